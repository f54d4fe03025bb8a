import CWharfCRC32C
import NIOCore

/// CRC-32C over log records (see Sources/CWharfCRC32C for why it is C).
enum CRC32C {
    static func checksum(_ buffer: ByteBuffer, at index: Int, length: Int) -> UInt32 {
        buffer.withUnsafeReadableBytes { bytes in
            let start = index - buffer.readerIndex
            return wharf_crc32c(0, bytes.baseAddress! + start, length)
        }
    }

    static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        guard let base = bytes.baseAddress else { return wharf_crc32c(0, nil, 0) }
        return wharf_crc32c(0, base, bytes.count)
    }
}
