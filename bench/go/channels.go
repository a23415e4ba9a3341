package main

// The channel workloads: the twins of goro-bench's pingpong, spsc_*, mpmc_4x4,
// select4, sieve, thread_ring, worker_pool, sleepers and the cb_* group
// (crossbeam-channel's benchmarks/go.go, with a sum check).

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"
)

const (
	bufferedCap    = 1024
	mpmcSides      = 4
	selectChannels = 4
	selectCap      = 16
	ringSize       = 503
	poolWorkers    = 8
	poolCap        = 128
	cbThreads      = 4
)

func sumBelow(m int) uint64 { return uint64(m) * uint64(max(m-1, 0)) / 2 }

func checkEq(what string, got, want uint64) error {
	if got != want {
		return fmt.Errorf("%s: got %d, want %d", what, got, want)
	}
	return nil
}

func checkMultiple(what string, n, k int) error {
	if n <= 0 || n%k != 0 {
		return fmt.Errorf("%s needs n to be a positive multiple of %d, got %d", what, k, n)
	}
	return nil
}

func pingpong(n int) (sample, error) {
	ping, pong := make(chan uint64), make(chan uint64)
	done := make(chan struct{})
	go func() {
		for v := range ping {
			pong <- v + 1
		}
		close(done)
	}()
	start := time.Now()
	for i := uint64(0); i < uint64(n); i++ {
		ping <- i
		if err := checkEq("pingpong", <-pong, i+1); err != nil {
			return sample{}, err
		}
	}
	elapsed := time.Since(start)
	close(ping)
	<-done
	return sample{elapsed: elapsed}, nil
}

func spsc(n, capacity int) (sample, error) {
	c := make(chan uint64, capacity)
	start := time.Now()
	go func() {
		for i := uint64(0); i < uint64(n); i++ {
			c <- i
		}
		close(c)
	}()
	var sum uint64
	for v := range c {
		sum += v
	}
	elapsed := time.Since(start)
	return sample{elapsed: elapsed}, checkEq("spsc sum", sum, sumBelow(n))
}

func mpmc4x4(n int) (sample, error) {
	if err := checkMultiple("mpmc_4x4", n, mpmcSides); err != nil {
		return sample{}, err
	}
	per := uint64(n / mpmcSides)
	c := make(chan uint64, bufferedCap)
	sums := make(chan uint64, mpmcSides)
	start := time.Now()
	var producers sync.WaitGroup
	producers.Add(mpmcSides)
	for p := 0; p < mpmcSides; p++ {
		go func() {
			for i := uint64(0); i < per; i++ {
				c <- i
			}
			producers.Done()
		}()
	}
	for q := 0; q < mpmcSides; q++ {
		go func() {
			var s uint64
			for v := range c {
				s += v
			}
			sums <- s
		}()
	}
	producers.Wait()
	close(c)
	var sum uint64
	for q := 0; q < mpmcSides; q++ {
		sum += <-sums
	}
	elapsed := time.Since(start)
	return sample{elapsed: elapsed}, checkEq("mpmc_4x4 sum", sum, mpmcSides*sumBelow(int(per)))
}

// producersOn starts one producer per channel, each sending 0..per; the channels
// stay open.
func producersOn(cs []chan uint64, per uint64, wg *sync.WaitGroup) {
	wg.Add(len(cs))
	for _, c := range cs {
		go func() {
			for i := uint64(0); i < per; i++ {
				c <- i
			}
			wg.Done()
		}()
	}
}

func selectRxLoop(cs []chan uint64, n int) uint64 {
	c0, c1, c2, c3 := cs[0], cs[1], cs[2], cs[3]
	var sum uint64
	for i := 0; i < n; i++ {
		select {
		case v := <-c0:
			sum += v
		case v := <-c1:
			sum += v
		case v := <-c2:
			sum += v
		case v := <-c3:
			sum += v
		}
	}
	return sum
}

func makeChans(k, capacity int) []chan uint64 {
	cs := make([]chan uint64, k)
	for i := range cs {
		cs[i] = make(chan uint64, capacity)
	}
	return cs
}

func select4(n int) (sample, error) {
	if err := checkMultiple("select4", n, selectChannels); err != nil {
		return sample{}, err
	}
	per := uint64(n / selectChannels)
	cs := makeChans(selectChannels, selectCap)
	start := time.Now()
	var wg sync.WaitGroup
	producersOn(cs, per, &wg)
	sum := selectRxLoop(cs, n)
	wg.Wait()
	elapsed := time.Since(start)
	return sample{elapsed: elapsed}, checkEq("select4 sum", sum, 4*sumBelow(int(per)))
}

func nthPrime(n int) uint64 {
	found, k := 0, uint64(1)
	for found < n {
		k++
		prime := true
		for d := uint64(2); d*d <= k; d++ {
			if k%d == 0 {
				prime = false
				break
			}
		}
		if prime {
			found++
		}
	}
	return k
}

// sieveBench: test/chan/sieve1.go, with a generator that stops at the expected
// prime and closes, so the chain shuts down.
func sieveBench(n int) (sample, error) {
	last := nthPrime(n)
	start := time.Now()
	ch := make(chan uint64)
	go func(gen chan<- uint64) {
		for i := uint64(2); i <= last; i++ {
			gen <- i
		}
		close(gen)
	}(ch)
	var prime uint64
	for i := 0; i < n; i++ {
		p, ok := <-ch
		if !ok {
			return sample{}, fmt.Errorf("sieve: chain closed after %d primes", i)
		}
		prime = p
		if i+1 < n {
			in, out := ch, make(chan uint64)
			go func() {
				for v := range in {
					if v%p != 0 {
						out <- v
					}
				}
				close(out)
			}()
			ch = out
		}
	}
	if extra, ok := <-ch; ok {
		return sample{}, fmt.Errorf("sieve: %d arrived after the %dth prime", extra, n)
	}
	elapsed := time.Since(start)
	return sample{elapsed: elapsed}, checkEq("sieve: n-th prime", prime, last)
}

func threadRing(n int) (sample, error) {
	cs := makeChans(ringSize, 0)
	done := make(chan uint64, 1)
	var wg sync.WaitGroup
	start := time.Now()
	wg.Add(ringSize)
	for i := 0; i < ringSize; i++ {
		in, next := cs[i], cs[(i+1)%ringSize]
		go func() {
			defer wg.Done()
			defer close(next) // the ring closes behind the finisher
			for token := range in {
				if token == 0 {
					done <- uint64(i + 1)
					return
				}
				next <- token - 1
			}
		}()
	}
	cs[0] <- uint64(n)
	id := <-done
	elapsed := time.Since(start)
	wg.Wait()
	return sample{elapsed: elapsed}, checkEq("thread_ring: finishing goroutine", id, uint64(n%ringSize)+1)
}

func poolJob(x uint64) uint64 { return x * x % 1000003 }

func workerPool(n int) (sample, error) {
	var want uint64
	for x := uint64(0); x < uint64(n); x++ {
		want += poolJob(x)
	}
	jobs, results := make(chan uint64, poolCap), make(chan uint64, poolCap)
	var wg sync.WaitGroup
	start := time.Now()
	wg.Add(poolWorkers)
	for w := 0; w < poolWorkers; w++ {
		go func() {
			for x := range jobs {
				results <- poolJob(x)
			}
			wg.Done()
		}()
	}
	go func() {
		for x := uint64(0); x < uint64(n); x++ {
			jobs <- x
		}
		close(jobs)
	}()
	var sum uint64
	for i := 0; i < n; i++ {
		sum += <-results
	}
	wg.Wait()
	elapsed := time.Since(start)
	return sample{elapsed: elapsed}, checkEq("worker_pool sum", sum, want)
}

func sleeperMs(i int) uint64 {
	x := uint64(i)*6364136223846793005 + 1442695040888963407
	return (x>>33)%10 + 1
}

func sleepers(n int) (sample, error) {
	var wg sync.WaitGroup
	start := time.Now()
	wg.Add(n)
	for i := 0; i < n; i++ {
		d := time.Duration(sleeperMs(i)) * time.Millisecond
		go func() {
			time.Sleep(d)
			wg.Done()
		}()
	}
	wg.Wait()
	return sample{elapsed: time.Since(start)}, nil
}

// cbWorkload parses cb_<kind>_<cap> (crossbeam-channel's benchmarks/go.go);
// "unbounded" is a channel of capacity n, as crossbeam's Go twin has it.
func cbWorkload(name string) (func(n int) (sample, error), bool) {
	rest := strings.TrimPrefix(name, "cb_")
	i := strings.LastIndex(rest, "_")
	if i < 0 {
		return nil, false
	}
	kind, capName := rest[:i], rest[i+1:]
	capOf := map[string]func(n int) int{
		"bounded0":  func(int) int { return 0 },
		"bounded1":  func(int) int { return 1 },
		"boundedN":  func(n int) int { return n },
		"unbounded": func(n int) int { return n },
	}[capName]
	run := map[string]func(n, capacity int) uint64{
		"seq":         cbSeq,
		"spsc":        cbSpsc,
		"mpsc":        cbMpsc,
		"mpmc":        cbMpmc,
		"select_rx":   cbSelectRx,
		"select_both": cbSelectBoth,
	}[kind]
	if capOf == nil || run == nil {
		return nil, false
	}
	return func(n int) (sample, error) {
		want := sumBelow(n)
		if kind != "seq" && kind != "spsc" {
			if err := checkMultiple("cb", n, cbThreads); err != nil {
				return sample{}, err
			}
			want = cbThreads * sumBelow(n/cbThreads)
		}
		start := time.Now()
		sum := run(n, capOf(n))
		elapsed := time.Since(start)
		return sample{elapsed: elapsed}, checkEq("cb sum", sum, want)
	}, true
}

func cbSeq(n, capacity int) uint64 {
	c := make(chan uint64, capacity)
	for i := uint64(0); i < uint64(n); i++ {
		c <- i
	}
	var sum uint64
	for i := 0; i < n; i++ {
		sum += <-c
	}
	return sum
}

func cbSpsc(n, capacity int) uint64 {
	c := make(chan uint64, capacity)
	done := make(chan bool)
	go func() {
		for i := uint64(0); i < uint64(n); i++ {
			c <- i
		}
		done <- true
	}()
	var sum uint64
	for i := 0; i < n; i++ {
		sum += <-c
	}
	<-done
	return sum
}

func cbMpsc(n, capacity int) uint64 {
	c := make(chan uint64, capacity)
	var wg sync.WaitGroup
	producersOn([]chan uint64{c, c, c, c}, uint64(n/cbThreads), &wg)
	var sum uint64
	for i := 0; i < n; i++ {
		sum += <-c
	}
	wg.Wait()
	return sum
}

func cbMpmc(n, capacity int) uint64 {
	c := make(chan uint64, capacity)
	per := n / cbThreads
	var wg sync.WaitGroup
	producersOn([]chan uint64{c, c, c, c}, uint64(per), &wg)
	sums := make(chan uint64, cbThreads)
	for t := 0; t < cbThreads; t++ {
		go func() {
			var s uint64
			for i := 0; i < per; i++ {
				s += <-c
			}
			sums <- s
		}()
	}
	var sum uint64
	for t := 0; t < cbThreads; t++ {
		sum += <-sums
	}
	wg.Wait()
	return sum
}

func cbSelectRx(n, capacity int) uint64 {
	cs := makeChans(cbThreads, capacity)
	var wg sync.WaitGroup
	producersOn(cs, uint64(n/cbThreads), &wg)
	sum := selectRxLoop(cs, n)
	wg.Wait()
	return sum
}

func cbSelectBoth(n, capacity int) uint64 {
	cs := makeChans(cbThreads, capacity)
	per := n / cbThreads
	c0, c1, c2, c3 := cs[0], cs[1], cs[2], cs[3]
	var wg sync.WaitGroup
	wg.Add(cbThreads)
	for t := 0; t < cbThreads; t++ {
		go func() {
			for i := uint64(0); i < uint64(per); i++ {
				select {
				case c0 <- i:
				case c1 <- i:
				case c2 <- i:
				case c3 <- i:
				}
			}
			wg.Done()
		}()
	}
	sums := make(chan uint64, cbThreads)
	for t := 0; t < cbThreads; t++ {
		go func() { sums <- selectRxLoop(cs, per) }()
	}
	var sum uint64
	for t := 0; t < cbThreads; t++ {
		sum += <-sums
	}
	wg.Wait()
	return sum
}

// timersBench: n timers (deadline 1 h) created, then all stopped.
func timersBench(n int) (sample, error) {
	start := time.Now()
	ts := make([]*time.Timer, n)
	for i := range ts {
		ts[i] = time.NewTimer(time.Hour)
	}
	stopped := 0
	for _, t := range ts {
		if t.Stop() {
			stopped++
		}
	}
	elapsed := time.Since(start)
	return sample{elapsed: elapsed}, checkEq("timers stopped", uint64(stopped), uint64(n))
}

// sleepLateness: the median lateness of n sequential 1 ms sleeps, reported as
// elapsed = median × n so that the per-op figure is the median.
func sleepLateness(n int) (sample, error) {
	late := make([]time.Duration, n)
	for i := range late {
		t0 := time.Now()
		time.Sleep(time.Millisecond)
		late[i] = time.Since(t0) - time.Millisecond
	}
	sort.Slice(late, func(a, b int) bool { return late[a] < late[b] })
	return sample{elapsed: late[n/2] * time.Duration(n)}, nil
}
