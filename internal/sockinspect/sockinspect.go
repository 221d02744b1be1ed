//go:build linux

package sockinspect

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Socket is one internet socket held by a process.
type Socket struct {
	// Proto is the /proc/net table the socket was found in: "tcp",
	// "tcp6", "udp", "udp6", "udplite", "udplite6", "raw" or "raw6".
	Proto      string
	LocalAddr  string // e.g. "127.0.0.1:8080" or "[::1]:53"
	RemoteAddr string
	// State is the TCP state name for TCP ("LISTEN", "ESTABLISHED", ...).
	// The other protocols reuse TCP's codes: an unconnected socket is
	// "UNCONN", a connected one "ESTABLISHED".
	State string
	Inode uint64
}

// inetTables are the /proc/<pid>/net tables sharing one column layout. Raw
// and UDP-Lite are included even though the bus cares about TCP and UDP:
// a test that a process has no network sockets must not miss a kind.
var inetTables = []string{"tcp", "tcp6", "udp", "udp6", "udplite", "udplite6", "raw", "raw6"}

// Column positions in /proc/net/{tcp,udp,raw}[6].
const (
	colLocal  = 1
	colRemote = 2
	colState  = 3
	colInode  = 9
)

// InetSockets lists every TCP, UDP, UDP-Lite and raw IP socket, v4 and v6,
// that process pid holds open.
func InetSockets(pid int) ([]Socket, error) {
	held, err := socketInodes(pid)
	if err != nil {
		return nil, err
	}
	var found []Socket
	for _, table := range inetTables {
		path := fmt.Sprintf("/proc/%d/net/%s", pid, table)
		rows, err := readTable(path, colInode)
		if errors.Is(err, fs.ErrNotExist) && table != "tcp" && table != "udp" {
			// Optional protocols, such as UDP-Lite or IPv6, may be
			// missing from the kernel. Then nobody can hold such sockets.
			continue
		}
		if err != nil {
			return nil, err
		}
		for _, f := range rows {
			inode, err := strconv.ParseUint(f[colInode], 10, 64)
			if err != nil {
				return nil, fmt.Errorf("sockinspect: %s: inode %q: %w", path, f[colInode], err)
			}
			if _, ok := held[inode]; !ok {
				continue
			}
			s, err := parseRow(table, f, inode)
			if err != nil {
				return nil, fmt.Errorf("sockinspect: %s: %w", path, err)
			}
			found = append(found, s)
		}
	}
	return found, nil
}

// UnixSockets counts the Unix domain sockets that process pid holds open.
func UnixSockets(pid int) (int, error) {
	held, err := socketInodes(pid)
	if err != nil {
		return 0, err
	}
	// Columns: Num RefCount Protocol Flags Type St Inode [Path].
	const colUnixInode = 6
	path := fmt.Sprintf("/proc/%d/net/unix", pid)
	rows, err := readTable(path, colUnixInode)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, f := range rows {
		inode, err := strconv.ParseUint(f[colUnixInode], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("sockinspect: %s: inode %q: %w", path, f[colUnixInode], err)
		}
		if _, ok := held[inode]; ok {
			n++
		}
	}
	return n, nil
}

// socketInodes returns the inodes of the sockets among pid's open files,
// from the "socket:[INODE]" targets of /proc/<pid>/fd links.
func socketInodes(pid int) (map[uint64]struct{}, error) {
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("sockinspect: %w", err)
	}
	inodes := make(map[uint64]struct{})
	for _, e := range entries {
		target, err := os.Readlink(filepath.Join(dir, e.Name()))
		if errors.Is(err, fs.ErrNotExist) {
			continue // closed since the directory was read
		}
		if err != nil {
			return nil, fmt.Errorf("sockinspect: %w", err)
		}
		rest, ok := strings.CutPrefix(target, "socket:[")
		if !ok {
			continue
		}
		inode, err := strconv.ParseUint(strings.TrimSuffix(rest, "]"), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("sockinspect: fd %s: odd target %q", e.Name(), target)
		}
		inodes[inode] = struct{}{}
	}
	return inodes, nil
}

// readTable returns the whitespace-separated fields of each row of a /proc
// table after its header, checking that each has at least minCol+1 fields.
func readTable(path string, minCol int) ([][]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("sockinspect: %w", err)
	}
	defer f.Close()
	var rows [][]string
	sc := bufio.NewScanner(f)
	for first := true; sc.Scan(); first = false {
		if first {
			continue
		}
		fields := strings.Fields(sc.Text())
		if len(fields) <= minCol {
			return nil, fmt.Errorf("sockinspect: %s: short row %q", path, sc.Text())
		}
		rows = append(rows, fields)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("sockinspect: %s: %w", path, err)
	}
	return rows, nil
}

func parseRow(table string, f []string, inode uint64) (Socket, error) {
	local, err := parseAddr(f[colLocal])
	if err != nil {
		return Socket{}, err
	}
	remote, err := parseAddr(f[colRemote])
	if err != nil {
		return Socket{}, err
	}
	code, err := strconv.ParseUint(f[colState], 16, 8)
	if err != nil {
		return Socket{}, fmt.Errorf("state %q: %w", f[colState], err)
	}
	return Socket{
		Proto:      table,
		LocalAddr:  local.String(),
		RemoteAddr: remote.String(),
		State:      stateName(table, uint8(code)),
		Inode:      inode,
	}, nil
}

// parseAddr decodes "0100007F:1F90". The kernel prints the address as
// 32-bit words in host byte order and the port as a plain number.
func parseAddr(s string) (netip.AddrPort, error) {
	hexAddr, hexPort, ok := strings.Cut(s, ":")
	if !ok {
		return netip.AddrPort{}, fmt.Errorf("address %q: no port", s)
	}
	port, err := strconv.ParseUint(hexPort, 16, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("address %q: %w", s, err)
	}
	raw, err := hex.DecodeString(hexAddr)
	if err != nil || (len(raw) != 4 && len(raw) != 16) {
		return netip.AddrPort{}, fmt.Errorf("address %q: bad hex address", s)
	}
	// hex.DecodeString read each word most significant byte first; turn
	// the printed value back into the bytes as they were in memory.
	for i := 0; i < len(raw); i += 4 {
		binary.NativeEndian.PutUint32(raw[i:], binary.BigEndian.Uint32(raw[i:]))
	}
	addr, _ := netip.AddrFromSlice(raw)
	return netip.AddrPortFrom(addr, uint16(port)), nil
}

// tcpStates are the kernel's TCP state codes (include/net/tcp_states.h).
var tcpStates = map[uint8]string{
	0x01: "ESTABLISHED",
	0x02: "SYN_SENT",
	0x03: "SYN_RECV",
	0x04: "FIN_WAIT1",
	0x05: "FIN_WAIT2",
	0x06: "TIME_WAIT",
	0x07: "CLOSE",
	0x08: "CLOSE_WAIT",
	0x09: "LAST_ACK",
	0x0A: "LISTEN",
	0x0B: "CLOSING",
	0x0C: "NEW_SYN_RECV",
}

func stateName(table string, code uint8) string {
	if !strings.HasPrefix(table, "tcp") {
		switch code {
		case 0x01:
			return "ESTABLISHED"
		case 0x07:
			return "UNCONN"
		}
	}
	if name, ok := tcpStates[code]; ok {
		return name
	}
	return fmt.Sprintf("0x%02X", code)
}
