package runtime

// KeyGroup returns the key group of key among n groups. It is stable across
// processes, releases and platforms: keyed state is stored by key group, and
// an operator with parallelism p serves groups [i*n/p, (i+1)*n/p) on
// instance i, as in Flink.
func KeyGroup(key []byte, n int) int {
	// FNV-1a, then the murmur3 64-bit finaliser to spread low-entropy keys.
	h := uint64(14695981039346656037)
	for _, c := range key {
		h ^= uint64(c)
		h *= 1099511628211
	}
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return int(h % uint64(n))
}

// InstanceFor returns the instance (0..parallelism-1) that serves key group
// kg out of n groups.
func InstanceFor(kg, n, parallelism int) int {
	return kg * parallelism / n
}

// partitioner spreads records over the instances of the next stage: keyed
// records by key group, unkeyed ones round robin. When the next stage keeps
// keyed state (stateful), unkeyed records all share the nil key's state, so
// they go to the one instance owning the empty key's key group instead:
// spread, they would race on it. onUnkeyed, if set, is called for each such
// record.
type partitioner struct {
	groups, parallelism int
	stateful            bool
	onUnkeyed           func()
	next                int
}

func (p *partitioner) pick(key []byte) int {
	if p.parallelism == 1 {
		return 0
	}
	if key == nil {
		if p.stateful {
			if p.onUnkeyed != nil {
				p.onUnkeyed()
			}
			return InstanceFor(KeyGroup(nil, p.groups), p.groups, p.parallelism)
		}
		p.next++
		if p.next >= p.parallelism {
			p.next = 0
		}
		return p.next
	}
	return InstanceFor(KeyGroup(key, p.groups), p.groups, p.parallelism)
}
