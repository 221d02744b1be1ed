//go:build !linux

package procfs

// System returns ErrUnsupported: only Linux has the /proc this package
// reads. A Scanner over a copied tree still works, see NewScanner.
func System() (*Scanner, error) {
	return nil, ErrUnsupported
}

// ClockTicks returns DefaultClockTicks.
func ClockTicks() uint64 { return DefaultClockTicks }
