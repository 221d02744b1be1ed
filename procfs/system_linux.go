//go:build linux

package procfs

import "golang.org/x/sys/unix"

// atClkTck is the auxiliary vector's key for the clock tick rate
// (AT_CLKTCK in linux/auxvec.h).
const atClkTck = 17

// System returns a Scanner for the running system's /proc.
func System() (*Scanner, error) {
	return NewScanner("/proc", ClockTicks())
}

// ClockTicks returns the rate of the clock that /proc/<pid>/stat counts
// start times in (USER_HZ), as sysconf(_SC_CLK_TCK) does: from the auxiliary
// vector the kernel gave this process, or DefaultClockTicks when it is not
// available.
func ClockTicks() uint64 {
	vec, err := unix.Auxv()
	if err != nil {
		return DefaultClockTicks
	}
	for _, kv := range vec {
		if kv[0] == atClkTck && kv[1] > 0 {
			return uint64(kv[1])
		}
	}
	return DefaultClockTicks
}
