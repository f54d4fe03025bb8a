// swift-tools-version:6.0
import PackageDescription

// Dependencies point one way: WharfMQTT (codec, protocol vocabulary) <- WharfCore
// (routing, sessions; no sockets) <- WharfServer (NIO listeners) <- `wharf` (CLI).

// The message path's modules drop the runtime exclusivity checks in release
// builds: each access to a class's stored property there went through
// swift_beginAccess and a thread-local access set, ~30 a message and ~10% of
// the instructions of a QoS 0 publish (docs/performance.md). Debug builds,
// which every test runs, keep the checks, so a violation still traps there.
let hotPath: [SwiftSetting] = [.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))]
let package = Package(
    name: "Wharf",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "wharf", targets: ["wharf"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-atomics.git", from: "1.3.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/LebJe/TOMLKit.git", from: "0.6.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
    ],
    targets: [
        // The metrics snapshot: the one model the exporter and the dashboard read.
        .target(name: "WharfMetrics"),
        // Topic tree, routing, sessions, retained store. No sockets: unit-testable without channels.
        .target(
            name: "WharfCore",
            dependencies: [
                "WharfMQTT",
                "WharfMetrics",
                "WharfStorage",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Collections", package: "swift-collections"),
                .product(name: "Atomics", package: "swift-atomics"),
            ],
            swiftSettings: hotPath
        ),
        // CRC-32C with the CPU's instruction (see crc32c.c for why this is C).
        .target(name: "CWharfCRC32C"),
        // The durable store: segmented log, group-commit writer, recovery, checkpoints.
        .target(
            name: "WharfStorage",
            dependencies: [
                "CWharfCRC32C",
                "WharfMetrics",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Atomics", package: "swift-atomics"),
            ]
        ),
        // MQTT packet model, ByteBuffer codec and the per-connection protocol state machine.
        .target(
            name: "WharfMQTT",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio")
            ],
            swiftSettings: hotPath
        ),
        // A NATS and JetStream client on SwiftNIO, for cluster mode: the wire protocol as value
        // types (parser, encoder), one connection with reconnect and request/reply, and the
        // JetStream and KV subset cluster mode uses. No Swift NATS client is available here.
        .target(
            name: "WharfNATS",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: hotPath
        ),
        // Cluster mode: this node's link to the others over NATS JetStream (membership,
        // the route index, forwarding, retained messages), behind WharfCore's ClusterLink.
        .target(
            name: "WharfCluster",
            dependencies: [
                "WharfCore",
                "WharfMQTT",
                "WharfMetrics",
                "WharfNATS",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: hotPath
        ),
        // NIO listeners, connection handlers, configuration and lifecycle.
        .target(
            name: "WharfServer",
            dependencies: [
                "WharfCore",
                "WharfCluster",
                "WharfNATS",
                "WharfMQTT",
                "WharfMetrics",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "Atomics", package: "swift-atomics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "TOMLKit", package: "TOMLKit"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
            ],
            swiftSettings: hotPath
        ),
        // Prometheus text renderer and the HTTP listener for /metrics and /api/v1/snapshot.
        .target(
            name: "WharfExporter",
            dependencies: [
                "WharfMetrics",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // ncurses (wide-character build) for the dashboard's terminal backend.
        // No pkgConfig: its cflags are ones SwiftPM refuses (with a warning); shim.h sets what is needed.
        .systemLibrary(name: "CNcurses"),
        // `wharf top`: snapshot polling, the cell-grid widgets, themes and the ncurses backend.
        .target(
            name: "WharfTop",
            dependencies: [
                "WharfMetrics",
                "CNcurses",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
        // Synthetic traffic for `wharf demo`: a few MQTT clients on the same codec.
        .target(
            name: "WharfDemo",
            dependencies: [
                "WharfMQTT",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        // Load generator behind `wharf bench`: a small MQTT client on the same codec.
        .target(
            name: "WharfBench",
            dependencies: [
                "WharfMQTT",
                "WharfMetrics",
                "WharfExporter",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
        .executableTarget(
            name: "wharf",
            dependencies: [
                "WharfServer",
                "WharfCore",
                "WharfBench",
                "WharfTop",
                "WharfDemo",
                "WharfStorage",
                "WharfExporter",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ]
        ),
        // What the test targets share: the seeded generator and crash breadcrumbs of the fuzz tests.
        .target(name: "WharfTestSupport", path: "Tests/WharfTestSupport"),
        .testTarget(
            name: "WharfMQTTTests",
            dependencies: [
                "WharfMQTT", "WharfTestSupport", .product(name: "NIOCore", package: "swift-nio"),
            ]),
        .testTarget(
            name: "WharfCoreTests",
            dependencies: [
                "WharfCore", "WharfMetrics", "WharfStorage", "WharfMQTT", "WharfTestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
            ]),
        .testTarget(
            name: "WharfStorageTests",
            dependencies: [
                "WharfStorage", .product(name: "NIOCore", package: "swift-nio"),
            ]),
        .testTarget(
            name: "WharfExporterTests",
            dependencies: [
                "WharfExporter", "WharfMetrics", .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"), .product(name: "Logging", package: "swift-log"),
            ]),
        .testTarget(name: "WharfTopTests", dependencies: ["WharfTop", "WharfMetrics"]),
        .testTarget(
            name: "WharfClusterTests",
            dependencies: [
                "WharfCluster", "WharfCore", "WharfMQTT", "WharfNATS", "WharfTestSupport",
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
            ]),
        .testTarget(
            name: "WharfNATSTests",
            dependencies: [
                "WharfNATS", "WharfTestSupport", .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"), .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]),
        .testTarget(
            name: "WharfServerTests",
            dependencies: [
                "WharfServer", "WharfCore", "WharfMQTT", "WharfMetrics", "WharfStorage", "WharfTestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]),
    ],
    swiftLanguageModes: [.v6]
)
