import Foundation

/// The monotonic clock (what the broker's times are in) and the wall clock
/// (what a journal stores, so times survive a restart), read together once,
/// to convert between them.
public struct WallClock: Sendable {
    /// Monotonic nanoseconds.
    public let now: UInt64
    /// Unix nanoseconds at the same moment.
    public let wallNow: UInt64

    public init(now: UInt64, wallNow: UInt64) {
        self.now = now
        self.wallNow = wallNow
    }

    public static func now() -> WallClock {
        WallClock(now: Clock.nowNanos(), wallNow: UInt64(Date().timeIntervalSince1970 * 1e9))
    }

    /// A monotonic time as Unix nanoseconds.
    public func wall(_ monotonic: UInt64) -> UInt64 {
        monotonic >= now ? wallNow &+ (monotonic - now) : wallNow &- min(wallNow, now - monotonic)
    }

    /// A Unix time as monotonic nanoseconds (in the past: clamped to 0).
    public func monotonic(_ wall: UInt64) -> UInt64 {
        wall >= wallNow ? now &+ (wall - wallNow) : now &- min(now, wallNow - wall)
    }
}
