package main

import (
	"bufio"
	"net"
	"sync"
	"time"
)

// runIdle opens --conns mTLS connections (each with a full handshake and,
// by default, one request), lets them sit idle, and reports the summed
// VmRSS of --rss-pid before and after.
func (g *gen) runIdle() *Result {
	o := g.opt
	res := g.newResult(time.Now(), 0)
	idle := &IdleResult{Requested: o.conns}
	res.Idle = idle
	pids, err := parsePIDs(o.rssPIDs)
	if err != nil {
		idle.RSSError = "--rss-pid: " + err.Error()
	}
	idle.PIDs = pids
	sumRSS := func() (rss, hwm int64) {
		for _, p := range pids {
			r, h, err := readRSS(p)
			if err != nil && idle.RSSError == "" {
				idle.RSSError = err.Error()
			}
			rss += r
			hwm += h
		}
		return rss, hwm
	}
	idle.RSSBeforeKB, _ = sumRSS()

	cpu0, cpuErr := readProcStat()
	g.phase.Store(phaseMeasure)
	st := newStats()
	var mu sync.Mutex
	conns := make([]net.Conn, 0, o.conns)
	sem := make(chan struct{}, o.dialConc)
	var wg sync.WaitGroup
	t0 := time.Now()
	deadline := t0.Add(o.duration)
	for i := 0; i < o.conns && time.Now().Before(deadline) && g.take(); i++ {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			c, status, err := g.openIdle()
			mu.Lock()
			defer mu.Unlock()
			if c != nil {
				conns = append(conns, c)
			}
			g.done(st, t0, status, err)
		}()
	}
	wg.Wait()
	idle.OpenSeconds = time.Since(t0).Seconds()
	idle.Opened = len(conns)
	res.WindowS = idle.OpenSeconds
	if cpu1, err := readProcStat(); err == nil && cpuErr == nil {
		res.CPU = busyBetween(cpu0, cpu1)
	}
	g.phase.Store(phaseStop)

	time.Sleep(o.settle)
	idle.RSSAfterKB, idle.HWMKB = sumRSS()
	if idle.Opened > 0 && idle.RSSError == "" && len(pids) > 0 {
		idle.PerConnKB = float64(idle.RSSAfterKB-idle.RSSBeforeKB) / float64(idle.Opened)
	}
	time.Sleep(o.hold)
	for _, c := range conns {
		c.Close()
	}
	res.OK = st.ok
	for k, v := range st.errs {
		res.ErrorKinds[k] += v
		res.Errors += v
	}
	res.ErrorSamples = st.samples
	return res
}

// openIdle dials one connection and, with --idle-request, sends one
// keep-alive request on it. It returns the connection if it stays open.
func (g *gen) openIdle() (net.Conn, int, error) {
	tc, err := g.dial()
	if err != nil {
		return nil, 0, err
	}
	if !g.opt.idleRequest {
		_ = tc.SetDeadline(time.Time{})
		return tc, 200, nil
	}
	_ = tc.SetDeadline(time.Now().Add(g.opt.timeout))
	h := &h1Conn{c: tc, br: bufio.NewReaderSize(tc, 4<<10), req: g.req}
	status, closing, err := h.do()
	if err != nil || closing {
		tc.Close()
		if err != nil {
			err = &stageError{"request", err}
		}
		return nil, status, err
	}
	_ = tc.SetDeadline(time.Time{})
	return tc, status, nil
}
