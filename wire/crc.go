package wire

import (
	"fmt"
	"hash/crc32"
)

// CRC selects the CRC-32 polynomial of the frame checksum. Both ends of a
// connection must use the same one. The zero value is IEEE, the default.
type CRC uint8

const (
	// CRCIEEE is the IEEE 802.3 polynomial, as in zlib and Ethernet.
	CRCIEEE CRC = iota
	// CRCCastagnoli is CRC-32C, with hardware support on amd64 and arm64.
	CRCCastagnoli
)

var castagnoliTable = crc32.MakeTable(crc32.Castagnoli)

// String returns the name ParseCRC accepts.
func (c CRC) String() string {
	switch c {
	case CRCIEEE:
		return "ieee"
	case CRCCastagnoli:
		return "castagnoli"
	default:
		return fmt.Sprintf("CRC(%d)", uint8(c))
	}
}

// ParseCRC parses "ieee" or "castagnoli" ("crc32c" is accepted too).
func ParseCRC(s string) (CRC, error) {
	switch s {
	case "ieee", "IEEE":
		return CRCIEEE, nil
	case "castagnoli", "Castagnoli", "crc32c", "CRC32C":
		return CRCCastagnoli, nil
	default:
		return 0, fmt.Errorf("wire: unknown CRC variant %q (want ieee or castagnoli)", s)
	}
}

// MarshalText lets CRC appear in TOML and JSON configuration.
func (c CRC) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// UnmarshalText is the inverse of MarshalText.
func (c *CRC) UnmarshalText(b []byte) error {
	v, err := ParseCRC(string(b))
	if err != nil {
		return err
	}
	*c = v
	return nil
}

func (c CRC) valid() bool { return c == CRCIEEE || c == CRCCastagnoli }

func (c CRC) other() CRC {
	if c == CRCIEEE {
		return CRCCastagnoli
	}
	return CRCIEEE
}

// Checksum returns the CRC-32 of b.
func (c CRC) Checksum(b []byte) uint32 {
	if c == CRCCastagnoli {
		return crc32.Update(0, castagnoliTable, b)
	}
	return crc32.ChecksumIEEE(b)
}

// Update returns the checksum of the bytes summed so far followed by b.
func (c CRC) Update(sum uint32, b []byte) uint32 {
	if c == CRCCastagnoli {
		return crc32.Update(sum, castagnoliTable, b)
	}
	return crc32.Update(sum, crc32.IEEETable, b)
}
