import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A cluster of real `nats-server` processes (JetStream by default) on 127.0.0.1,
/// for tests of cluster mode.
///
/// Each server gets free client, route and monitoring ports, a generated config
/// file, a JetStream store and a log (its stdout and stderr, appended across
/// restarts) in one temporary directory. `start` returns when every server
/// answers `/healthz?js-enabled-only=true`, is routed to the others, and all
/// agree on a JetStream meta leader (about 0.3 s on loopback).
///
/// Servers are started under `setpriv --pdeathsig KILL` from one thread that
/// never exits (the death signal follows the spawning thread, not the process),
/// so they die with the test process even when it crashes.
/// `shutdown()` (also run by `deinit`) kills them and removes the directory.
///
/// On nats-server 2.9.10 here, after a SIGKILL a new meta leader takes about
/// 5 s and a new stream leader 5 to 7 s; killing a follower costs nothing.
public final class NATSTestCluster: @unchecked Sendable {
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
        let portTaken: Bool

        init(_ description: String, portTaken: Bool = false) {
            self.description = description
            self.portTaken = portTaken
        }
    }

    private struct Server {
        let name: String
        let clientPort: Int
        let routePort: Int
        let httpPort: Int
        let configPath: String
        let storeDir: String
        let logPath: String
        var pid: pid_t?
        var exitStatus: Int32?
    }

    /// The directory holding every server's config, store and log.
    public let directory: String
    public let jetStream: Bool
    private let executable: String
    private let lock = NSLock()
    private var servers: [Server]
    private var isShutDown = false

    // MARK: - Starting

    /// Starts `servers` nats-servers in one cluster and blocks until every one is
    /// healthy and (with JetStream) a meta leader is elected, for at most 30 s.
    /// A failure names the server and shows the tail of its log; the directory
    /// is then kept for inspection.
    /// `extraConfig` is added to every server's config (a `tls { ... }` block).
    public static func start(servers count: Int = 3, jetStream: Bool = true, extraConfig: String = "") throws -> NATSTestCluster {
        precondition(count >= 1, "a cluster needs at least one server")
        guard let executable = executablePath else {
            throw Failure("nats-server is not installed (apt-get install nats-server, or set NATS_SERVER_BIN)")
        }
        var attempt = 0
        while true {
            attempt += 1
            let cluster = try NATSTestCluster(count: count, jetStream: jetStream, executable: executable, extraConfig: extraConfig)
            do {
                try cluster.startAll(timeout: .seconds(30))
                return cluster
            } catch let failure as Failure where failure.portTaken && attempt < 3 {
                // A probed free port was taken by someone else before the
                // server bound it: the machine's race, so try fresh ports.
                cluster.shutdown()
            } catch {
                cluster.killAll()
                cluster.lock.withLock { cluster.isShutDown = true }
                throw error
            }
        }
    }

    /// One cluster for the whole test process, started on first use, for tests
    /// that never kill, stop or restart servers. Traps when nats-server cannot
    /// start: check `isAvailable` first.
    public static let shared: NATSTestCluster = {
        do {
            let cluster = try start()
            atexit { NATSTestCluster.shared.shutdown() }
            return cluster
        } catch {
            fatalError("NATSTestCluster.shared: \(error)")
        }
    }()

    /// Whether nats-server can be run: `NATS_SERVER_BIN`, `nats-server` on PATH,
    /// or Debian's /usr/sbin/nats-server (not on a non-root PATH).
    public static var isAvailable: Bool { executablePath != nil }

    private init(count: Int, jetStream: Bool, executable: String, extraConfig: String) throws {
        self.jetStream = jetStream
        self.extraConfig = extraConfig
        self.executable = executable
        let temporary = NSTemporaryDirectory().hasSuffix("/") ? NSTemporaryDirectory() : NSTemporaryDirectory() + "/"
        var template = Array((temporary + "wharf-nats-XXXXXX").utf8CString)
        guard let made = mkdtemp(&template) else {
            throw Failure("mkdtemp failed: \(String(cString: strerror(errno)))")
        }
        let directory = String(cString: made)
        self.directory = directory
        servers = try (0..<count).map { index in
            let name = "n\(index)"
            return Server(
                name: name, clientPort: try PortAllocator.shared.next(), routePort: try PortAllocator.shared.next(),
                httpPort: try PortAllocator.shared.next(), configPath: "\(directory)/\(name).conf",
                storeDir: "\(directory)/\(name)-store", logPath: "\(directory)/\(name).log")
        }
        for server in servers {
            try config(for: server).write(toFile: server.configPath, atomically: true, encoding: .utf8)
        }
    }

    deinit {
        shutdown()
    }

    private let extraConfig: String

    private func config(for server: Server) -> String {
        var lines = [
            extraConfig,
            "server_name: \"\(server.name)\"",
            "listen: \"127.0.0.1:\(server.clientPort)\"",
            "http: \"127.0.0.1:\(server.httpPort)\"",
        ]
        if jetStream {
            lines.append("jetstream { store_dir: \"\(server.storeDir)\" }")
        }
        if servers.count > 1 {
            let routes = servers.filter { $0.name != server.name }.map { "\"nats://127.0.0.1:\($0.routePort)\"" }
            lines.append(
                "cluster { name: \"wharf-test\", listen: \"127.0.0.1:\(server.routePort)\", "
                    + "routes: [\(routes.joined(separator: ", "))] }")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    private func startAll(timeout: Duration) throws {
        let deadline = ContinuousClock.now + timeout
        for index in servers.indices {
            try spawn(index)
        }
        for index in servers.indices {
            try waitHealthy(index, timeout: deadline - .now)
        }
        if jetStream {
            try waitForMetaLeader(timeout: deadline - .now)
        }
    }

    // MARK: - What tests use

    public var clientURLs: [String] { clientPorts.map { "nats://127.0.0.1:\($0)" } }

    public var clientPorts: [Int] { lock.withLock { servers.map(\.clientPort) } }

    /// `server_name` of each server: "n0", "n1", ... (the index in every other call).
    public var serverNames: [String] { lock.withLock { servers.map(\.name) } }

    public func monitoringURL(_ index: Int) -> String {
        "http://127.0.0.1:\(lock.withLock { servers[index].httpPort })"
    }

    public func logPath(_ index: Int) -> String { lock.withLock { servers[index].logPath } }

    /// The process id of server `index`, nil when it is not running.
    public func pid(_ index: Int) -> pid_t? {
        lock.withLock {
            reapLocked(index)
            return servers[index].pid
        }
    }

    public func isRunning(_ index: Int) -> Bool { pid(index) != nil }

    /// SIGKILL, then waits until the process is gone.
    public func kill(_ index: Int) {
        signalAndWait(index, SIGKILL, grace: .seconds(10))
    }

    /// SIGTERM (nats-server shuts down cleanly), then waits; SIGKILL after 10 s.
    public func stop(_ index: Int) {
        signalAndWait(index, SIGTERM, grace: .seconds(10))
    }

    /// Starts server `index` again with the same ports, store and config, and waits
    /// until it is healthy and, while a quorum runs, agrees on the meta leader.
    public func restart(_ index: Int) throws {
        let deadline = ContinuousClock.now + .seconds(30)
        guard !isRunning(index) else {
            throw Failure("\(serverNames[index]) is still running: kill or stop it before restart")
        }
        try spawn(index)
        try waitHealthy(index, timeout: deadline - .now)
        let (count, running) = lock.withLock { (servers.count, servers.filter { $0.pid != nil }.count) }
        if jetStream && count > 1 && running * 2 > count {
            try waitForMetaLeader(timeout: deadline - .now)
        }
    }

    /// Until server `index` answers `/healthz?js-enabled-only=true` (`/healthz`
    /// without JetStream) with 200 and has a route to every other running server.
    public func waitHealthy(_ index: Int, timeout: Duration) throws {
        let deadline = ContinuousClock.now + timeout
        let (name, httpPort) = lock.withLock { (servers[index].name, servers[index].httpPort) }
        let path = jetStream ? "/healthz?js-enabled-only=true" : "/healthz"
        var last = "no answer yet"
        while true {
            guard isRunning(index) else {
                let status = lock.withLock { servers[index].exitStatus }
                throw failure(index, "\(name) exited (wait status \(status.map(String.init) ?? "?"))")
            }
            if let answer = Self.httpGet(port: httpPort, path: path) {
                if answer.status == 200 {
                    let others = lock.withLock { servers.indices.filter { $0 != index && servers[$0].pid != nil }.count }
                    let routes = Self.decode(Routez.self, Self.httpGet(port: httpPort, path: "/routez"))?.numRoutes ?? 0
                    if routes >= others { return }
                    last = "\(routes) of \(others) routes"
                } else {
                    last = "\(path) answered \(answer.status) \(answer.body.prefix(200))"
                }
            }
            guard ContinuousClock.now < deadline else {
                throw failure(index, "\(name) not healthy after \(timeout) (\(last))")
            }
            usleep(50_000)
        }
    }

    /// The meta leader's index when every running server names the same running
    /// server as JetStream meta leader; nil otherwise.
    public func metaLeader() -> Int? {
        let running = lock.withLock { servers.indices.filter { reapLocked($0) } }
        let ports = lock.withLock { servers.map(\.httpPort) }
        let names = lock.withLock { servers.map(\.name) }
        if names.count == 1 && running == [0] { return 0 }
        var leaders = Set<String?>()
        for index in running {
            leaders.insert(Self.decode(Jsz.self, Self.httpGet(port: ports[index], path: "/jsz"))?.metaCluster?.leader)
        }
        guard leaders.count == 1, let leader = leaders.first ?? nil, let index = names.firstIndex(of: leader),
            running.contains(index)
        else { return nil }
        return index
    }

    /// Until every running server names the same running server as meta leader.
    public func waitForMetaLeader(timeout: Duration) throws {
        guard jetStream else { throw Failure("JetStream is disabled in this cluster: there is no meta leader") }
        let deadline = ContinuousClock.now + timeout
        while metaLeader() == nil {
            guard ContinuousClock.now < deadline else {
                let (ports, names) = lock.withLock { (servers.map(\.httpPort), servers.map(\.name)) }
                var seen: [String] = []
                var tails = ""
                for index in names.indices {
                    let leader = Self.decode(Jsz.self, Self.httpGet(port: ports[index], path: "/jsz"))?.metaCluster?.leader
                    seen.append("\(names[index]): \(isRunning(index) ? (leader ?? "none") : "not running")")
                    tails += "\n--- \(names[index]) log tail:\n\(logTail(index, lines: 12))"
                }
                throw Failure("no meta leader after \(timeout) (leader seen by \(seen.joined(separator: ", ")))\(tails)")
            }
            usleep(50_000)
        }
    }

    /// Kills every server and removes the directory. Idempotent.
    public func shutdown() {
        let alreadyDown = lock.withLock {
            defer { isShutDown = true }
            return isShutDown
        }
        killAll()
        if !alreadyDown {
            try? FileManager.default.removeItem(atPath: directory)
        }
    }

    // MARK: - Processes

    private func spawn(_ index: Int) throws {
        let (logPath, configPath) = lock.withLock { (servers[index].logPath, servers[index].configPath) }
        let marker = "=== NATSTestCluster: starting \(serverNames[index]) at \(Date())\n"
        if let handle = FileHandle(forWritingAtPath: logPath) {
            handle.seekToEndOfFile()
            handle.write(Data(marker.utf8))
            handle.closeFile()
        } else {
            try marker.write(toFile: logPath, atomically: false, encoding: .utf8)
        }
        var arguments = [executable, "-c", configPath]
        if let setpriv = Self.setprivPath {
            arguments = [setpriv, "--pdeathsig", "KILL"] + arguments
        }
        let pid = try SpawnThread.shared.spawn(arguments, output: logPath)
        lock.withLock {
            servers[index].pid = pid
            servers[index].exitStatus = nil
        }
    }

    /// Reaps server `index` if it exited; true while it runs. Call with the lock held.
    @discardableResult
    private func reapLocked(_ index: Int) -> Bool {
        guard let pid = servers[index].pid else { return false }
        var status: Int32 = 0
        let result = waitpid(pid, &status, WNOHANG)
        if result == 0 { return true }
        servers[index].pid = nil
        servers[index].exitStatus = result == pid ? status : nil
        return false
    }

    private func signalAndWait(_ index: Int, _ signal: Int32, grace: Duration) {
        guard let pid = pid(index) else { return }
        _ = Glibc.kill(pid, signal)
        let deadline = ContinuousClock.now + grace
        while isRunning(index) {
            if ContinuousClock.now >= deadline {
                _ = Glibc.kill(pid, SIGKILL)
                while isRunning(index) { usleep(5_000) }
                return
            }
            usleep(5_000)
        }
    }

    private func killAll() {
        let count = lock.withLock { servers.count }
        for index in 0..<count {
            if let pid = pid(index) { _ = Glibc.kill(pid, SIGKILL) }
        }
        for index in 0..<count {
            signalAndWait(index, SIGKILL, grace: .seconds(10))
        }
    }

    private func logTail(_ index: Int, lines: Int = 30) -> String {
        guard let text = try? String(contentsOfFile: logPath(index), encoding: .utf8) else { return "(no log)" }
        return text.split(separator: "\n", omittingEmptySubsequences: false).suffix(lines).joined(separator: "\n")
    }

    private func failure(_ index: Int, _ what: String) -> Failure {
        let tail = logTail(index)
        let (name, config) = lock.withLock { (servers[index].name, servers[index].configPath) }
        return Failure(
            "\(what); config \(config)\n--- \(name) log tail:\n\(tail)", portTaken: tail.contains("address already in use"))
    }

    // MARK: - Tools

    private static let executablePath: String? = {
        if let path = ProcessInfo.processInfo.environment["NATS_SERVER_BIN"], access(path, X_OK) == 0 { return path }
        return findExecutable("nats-server", extra: ["/usr/sbin", "/usr/local/sbin"])
    }()

    private static let setprivPath: String? = findExecutable("setpriv", extra: ["/usr/bin", "/bin"])

    private static func findExecutable(_ name: String, extra: [String]) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        let directories = path.split(separator: ":").map(String.init) + extra
        return directories.map { "\($0)/\(name)" }.first { access($0, X_OK) == 0 }
    }

    private struct Jsz: Decodable {
        struct MetaCluster: Decodable { let leader: String? }
        let metaCluster: MetaCluster?
    }

    private struct Routez: Decodable { let numRoutes: Int }

    private static func decode<T: Decodable>(_ type: T.Type, _ answer: (status: Int, body: String)?) -> T? {
        guard let answer, answer.status == 200 else { return nil }
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return try? decoder.decode(type, from: Data(answer.body.utf8))
    }

    /// A GET on 127.0.0.1:`port` over a plain socket (HTTP/1.0, so the server
    /// closes after the answer); nil when it cannot connect or the answer is cut.
    static func httpGet(port: Int, path: String, timeoutSeconds: Int = 2) -> (status: Int, body: String)? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = in_addr_t(UInt32(0x7f00_0001).bigEndian)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else { return nil }
        let request = Array("GET \(path) HTTP/1.0\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n\r\n".utf8)
        var sent = 0
        while sent < request.count {
            let count = request[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard count > 0 else { return nil }
            sent += count
        }
        var response: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16_384)
        while response.count < 16 << 20 {
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count == 0 { break }
            if count < 0 {
                if errno == EINTR { continue }
                return nil
            }
            response += buffer[0..<count]
        }
        let text = String(decoding: response, as: UTF8.self)
        guard let split = text.range(of: "\r\n\r\n") else { return nil }
        let statusLine = text[..<split.lowerBound].prefix { $0 != "\r" }.split(separator: " ")
        guard statusLine.count >= 2, statusLine[0].hasPrefix("HTTP/"), let status = Int(statusLine[1]) else { return nil }
        return (status, String(text[split.upperBound...]))
    }
}

/// Hands out free ports on 127.0.0.1 (bind to port 0), never the same one twice
/// in a process: the probe socket closes before the server binds, so the
/// kernel could otherwise give one port to two servers.
private final class PortAllocator: @unchecked Sendable {
    static let shared = PortAllocator()
    private let lock = NSLock()
    private var handedOut: Set<Int> = []

    func next() throws -> Int {
        while true {
            let port = try Self.probe()
            let fresh = lock.withLock { handedOut.insert(port).inserted }
            if fresh { return port }
        }
    }

    private static func probe() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw NATSTestCluster.Failure("socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = in_addr_t(UInt32(0x7f00_0001).bigEndian)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(fd, pointer, length) == 0 && getsockname(fd, pointer, &length) == 0
            }
        }
        guard bound else { throw NATSTestCluster.Failure("bind 127.0.0.1:0: \(String(cString: strerror(errno)))") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

/// Spawns every child from one thread that lives as long as the process:
/// PR_SET_PDEATHSIG fires when the *thread* that spawned the child exits, and
/// test code runs on pool threads that come and go.
private final class SpawnThread: @unchecked Sendable {
    static let shared = SpawnThread()
    private let condition = NSCondition()
    private var jobs: [@Sendable () -> Void] = []

    private init() {
        let thread = Thread { [self] in loop() }
        thread.name = "NATSTestCluster spawner"
        thread.start()
    }

    private func loop() {
        while true {
            condition.lock()
            while jobs.isEmpty { condition.wait() }
            let job = jobs.removeFirst()
            condition.unlock()
            job()
        }
    }

    /// posix_spawn on the spawner thread: stdin /dev/null, stdout and stderr
    /// appended to `output`, no inherited descriptors past 2, default signal
    /// dispositions and an empty mask (a test process may ignore SIGPIPE or block signals).
    func spawn(_ arguments: [String], output: String) throws -> pid_t {
        let result = SpawnResult()
        let done = DispatchSemaphore(value: 0)
        condition.lock()
        jobs.append {
            result.value = Self.posixSpawn(arguments, output: output)
            done.signal()
        }
        condition.signal()
        condition.unlock()
        done.wait()
        return try result.value!.get()
    }

    /// glibc 2.34's posix_spawn_file_actions_addclosefrom_np, which Swift does
    /// not import (it is declared under _GNU_SOURCE).
    private static let addCloseFrom: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32)? = {
        guard let symbol = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np") else { return nil }
        return unsafeBitCast(
            symbol, to: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32).self)
    }()

    private static func posixSpawn(_ arguments: [String], output: String) -> Result<
        pid_t, NATSTestCluster.Failure
    > {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        if let closeFrom = addCloseFrom {
            _ = closeFrom(&actions, 3)
        } else if let open = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") {
            for fd in open.compactMap({ Int32($0) }) where fd > 2 {
                posix_spawn_file_actions_addclose(&actions, fd)
            }
        }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var all = sigset_t()
        sigfillset(&all)
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var pid: pid_t = 0
        let error = posix_spawn(&pid, arguments[0], &actions, &attributes, &argv, environ)
        guard error == 0 else {
            return .failure(NATSTestCluster.Failure("posix_spawn \(arguments[0]): \(String(cString: strerror(error)))"))
        }
        return .success(pid)
    }
}

/// Carries posix_spawn's answer from the spawner thread to the caller, who
/// reads it only after the semaphore says it was written.
private final class SpawnResult: @unchecked Sendable {
    var value: Result<pid_t, NATSTestCluster.Failure>?
}
