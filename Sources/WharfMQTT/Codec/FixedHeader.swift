import NIOCore

/// The fixed header: type and flags in one byte, then the remaining length.
public enum FixedHeader {
    @inlinable
    public static func write(type: PacketType, flags: UInt8, remainingLength: Int, into buffer: inout ByteBuffer) {
        buffer.writeInteger(type.rawValue << 4 | flags)
        buffer.writeVariableByteInteger(remainingLength)
    }
}
