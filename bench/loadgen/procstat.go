package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// cpuTimes is one "cpuN" line of /proc/stat, in clock ticks.
type cpuTimes struct {
	Name  string
	Total uint64 // user+nice+system+idle+iowait+irq+softirq+steal
	Idle  uint64 // idle+iowait
	Work  uint64 // user+nice+system: time charged to processes
}

// parseProcStat reads the per-core lines ("cpu0", "cpu1", ...) of /proc/stat.
// The aggregate "cpu" line is skipped. guest and guest_nice are already
// counted in user and nice, so they are not added again.
func parseProcStat(r io.Reader) ([]cpuTimes, error) {
	var out []cpuTimes
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 5 || !strings.HasPrefix(f[0], "cpu") || f[0] == "cpu" {
			continue
		}
		var v [8]uint64
		for i := 0; i < 8 && i+1 < len(f); i++ {
			n, err := strconv.ParseUint(f[i+1], 10, 64)
			if err != nil {
				return nil, fmt.Errorf("/proc/stat %s: field %d: %w", f[0], i+1, err)
			}
			v[i] = n
		}
		t := cpuTimes{Name: f[0], Idle: v[3] + v[4], Work: v[0] + v[1] + v[2]}
		for _, n := range v {
			t.Total += n
		}
		out = append(out, t)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("/proc/stat: no per-core cpu lines")
	}
	return out, nil
}

func readProcStat() ([]cpuTimes, error) {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return parseProcStat(f)
}

// CoreBusy is how busy one core was between two snapshots, in percent.
type CoreBusy struct {
	CPU  string  `json:"cpu"`
	Busy float64 `json:"busy_pct"`
}

// busyBetween computes per-core busy percentages between snapshots a and b.
func busyBetween(a, b []cpuTimes) []CoreBusy {
	prev := make(map[string]cpuTimes, len(a))
	for _, t := range a {
		prev[t.Name] = t
	}
	var out []CoreBusy
	for _, t := range b {
		p, ok := prev[t.Name]
		if !ok || t.Total <= p.Total {
			continue
		}
		dt := float64(t.Total - p.Total)
		di := float64(t.Idle - p.Idle)
		if t.Idle < p.Idle {
			di = 0
		}
		busy := 100 * (dt - di) / dt
		if busy < 0 {
			busy = 0
		}
		out = append(out, CoreBusy{CPU: t.Name, Busy: busy})
	}
	return out
}

// readRSS returns VmRSS and VmHWM of a process in KiB from /proc/PID/status.
func readRSS(pid int) (rss, hwm int64, err error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	return parseStatusRSS(f)
}

func parseStatusRSS(r io.Reader) (rss, hwm int64, err error) {
	sc := bufio.NewScanner(r)
	found := false
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 {
			continue
		}
		var dst *int64
		switch f[0] {
		case "VmRSS:":
			dst, found = &rss, true
		case "VmHWM:":
			dst = &hwm
		default:
			continue
		}
		n, perr := strconv.ParseInt(f[1], 10, 64)
		if perr != nil {
			return 0, 0, fmt.Errorf("status %s: %w", f[0], perr)
		}
		*dst = n
	}
	if err := sc.Err(); err != nil {
		return 0, 0, err
	}
	if !found {
		return 0, 0, fmt.Errorf("status: no VmRSS line")
	}
	return rss, hwm, nil
}

// parsePIDStat returns utime+stime (clock ticks, all threads) from the
// contents of /proc/PID/stat. The command name may contain spaces and
// parentheses, so fields are counted from the last ')'.
func parsePIDStat(b []byte) (uint64, error) {
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("stat: no command name")
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("stat: %d fields after the command name", len(f))
	}
	u, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("stat: bad utime/stime %q %q", f[11], f[12])
	}
	return u + st, nil
}

// pidTicks sums utime+stime of the processes (0 means this process);
// processes that are gone count as 0.
func pidTicks(pids []int) uint64 {
	var sum uint64
	for _, p := range pids {
		name := "/proc/self/stat"
		if p != 0 {
			name = fmt.Sprintf("/proc/%d/stat", p)
		}
		b, err := os.ReadFile(name)
		if err != nil {
			continue
		}
		if n, err := parsePIDStat(b); err == nil {
			sum += n
		}
	}
	return sum
}

// cpuSnap is a /proc/stat snapshot plus the CPU time of the known processes.
type cpuSnap struct {
	cores []cpuTimes
	known uint64
}

func snapshot(known []int) (cpuSnap, error) {
	k := pidTicks(known)
	c, err := readProcStat()
	return cpuSnap{cores: c, known: k}, err
}

// foreignPct is the CPU time that processes other than the known ones (and
// this one) used between a and b, in percent of one core. Interrupt and
// softirq time (loopback networking) is not counted as foreign.
func foreignPct(a, b cpuSnap) float64 {
	prev := map[string]cpuTimes{}
	for _, t := range a.cores {
		prev[t.Name] = t
	}
	var work, total float64
	n := 0
	for _, t := range b.cores {
		p, ok := prev[t.Name]
		if !ok || t.Total <= p.Total {
			continue
		}
		work += float64(t.Work - p.Work)
		total += float64(t.Total - p.Total)
		n++
	}
	if n == 0 || total == 0 {
		return 0
	}
	f := 100 * (work - float64(b.known-a.known)) / (total / float64(n))
	return max(f, 0)
}
