#ifndef WHARF_CRC32C_H
#define WHARF_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/// CRC-32C (Castagnoli), as iSCSI, ext4 and most write-ahead logs use.
/// `crc` is the value so far (0 to start); the result is the finished CRC
/// of everything passed, so calls can be chained over several pieces.
uint32_t wharf_crc32c(uint32_t crc, const void *data, size_t length);

#endif
