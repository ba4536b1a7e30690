//go:build !linux

package vpcd

// setQuickAck does nothing outside Linux, which has no TCP_QUICKACK;
// APDUs then pay the peer's delayed-ACK latency.
func setQuickAck(any) error { return nil }
