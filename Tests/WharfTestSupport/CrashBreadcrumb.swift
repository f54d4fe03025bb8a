#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Names the seed of the case running when a trap (a failed precondition,
/// an overflow, `fatalError`) kills the test process, which no `#expect`
/// survives to report. Each fuzz test owns a slot; before a case it writes
/// its seed there (formatting happens then, outside the signal handler); a
/// fatal signal writes the slots to stderr with `write(2)` (async-signal
/// safe), then hands the signal to the handler that was there before
/// (Swift's backtracer), which prints the stack.
public enum CrashBreadcrumb {
    public static let slotCount = 8
    public static let slotSize = 256
    private nonisolated(unsafe) static let slots: UnsafeMutablePointer<UInt8> = {
        let slots = UnsafeMutablePointer<UInt8>.allocate(capacity: slotCount * slotSize)
        slots.initialize(repeating: 0, count: slotCount * slotSize)
        return slots
    }()
    private nonisolated(unsafe) static let previous: UnsafeMutablePointer<sigaction> = {
        let previous = UnsafeMutablePointer<sigaction>.allocate(capacity: 32)
        previous.initialize(repeating: sigaction(), count: 32)
        return previous
    }()
    private static let signals: [Int32] = [SIGILL, SIGTRAP, SIGSEGV, SIGBUS, SIGFPE]
    private static let installed: Bool = {
        _ = slots
        _ = previous
        for signal in signals {
            var action = sigaction()
            #if canImport(Glibc)
                action.__sigaction_handler.sa_handler = CrashBreadcrumb.handle
            #else
                action.__sigaction_u.__sa_handler = CrashBreadcrumb.handle
            #endif
            sigemptyset(&action.sa_mask)
            action.sa_flags = 0
            sigaction(signal, &action, previous + Int(signal))
        }
        return true
    }()

    /// Records `text` (cut to the slot) as what slot `slot` is running now.
    public static func set(_ slot: Int, _ text: String) {
        _ = installed
        let base = slots + (slot % slotCount) * slotSize
        let bytes = Array(text.utf8.prefix(slotSize - 2)) + [UInt8(ascii: "\n"), 0]
        for (offset, byte) in bytes.enumerated() { base[offset] = byte }
    }

    public static func clear(_ slot: Int) {
        slots[(slot % slotCount) * slotSize] = 0
    }

    private static let handle: @convention(c) (Int32) -> Void = { signal in
        let header: StaticString = "\n*** fuzz case running when the process died (replay it with its seed):\n"
        _ = write(2, header.utf8Start, header.utf8CodeUnitCount)
        for slot in 0..<slotCount {
            let base = slots + slot * slotSize
            guard base[0] != 0 else { continue }
            var length = 0
            while length < slotSize, base[length] != 0 { length += 1 }
            _ = write(2, base, length)
        }
        // Back to the previous handler; returning re-runs the faulting
        // instruction, which now reaches it.
        sigaction(signal, previous + Int(signal), nil)
    }
}
