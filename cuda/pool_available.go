package cuda

// Available is what the pool may still hand out under its budget (the
// budget less the bytes in use: cached blocks are given back to make room),
// or -1 when it has no budget. The model manager compares a load's
// estimate with it before allocating (engines.MemoryReporter).
func (p *Pool) Available() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.opts.Budget <= 0 {
		return -1
	}
	return max(p.opts.Budget-p.used, 0)
}
