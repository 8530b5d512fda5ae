package pipeline

import (
	"runtime"
	"sync"
)

// pools are the decode and postprocess workers, shared by every model so
// CPU work is bounded by the machine, not by the number of models.
type pools struct {
	decode, post *pool
}

// pool is a fixed set of workers that run jobs in arrival order. The job
// queue is a slice, not a bounded channel, so submitting never blocks the
// goroutine that forms batches; it is bounded by the batch slots that exist.
type pool struct {
	mu     sync.Mutex // guards jobs and closed
	cond   *sync.Cond
	jobs   []func()
	head   int
	closed bool
	wg     sync.WaitGroup
}

func newPool(workers int) *pool {
	p := &pool{}
	p.cond = sync.NewCond(&p.mu)
	for range workers {
		p.wg.Add(1)
		go p.loop()
	}
	return p
}

func (p *pool) submit(job func()) {
	p.mu.Lock()
	p.jobs = append(p.jobs, job)
	p.mu.Unlock()
	p.cond.Signal()
}

func (p *pool) loop() {
	defer p.wg.Done()
	for {
		p.mu.Lock()
		for p.head == len(p.jobs) && !p.closed {
			p.cond.Wait()
		}
		if p.head == len(p.jobs) {
			p.mu.Unlock()
			return
		}
		job := p.jobs[p.head]
		p.jobs[p.head] = nil
		p.head++
		if p.head == len(p.jobs) {
			p.jobs, p.head = p.jobs[:0], 0
		}
		p.mu.Unlock()
		job()
		// Between jobs, let goroutines that became ready run: an instance
		// whose batch just finished must not wait for the scheduler's 10 ms
		// preemption while workers chain CPU-bound jobs back to back.
		runtime.Gosched()
	}
}

// close lets queued jobs finish, then stops the workers.
func (p *pool) close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.cond.Broadcast()
	p.wg.Wait()
}
