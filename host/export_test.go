package host

// InputBufferCap returns the capacity of the buffer i encodes input frames
// into, for the test of its release after a huge frame.
func InputBufferCap(i *Instance) int { return cap(i.in) }
