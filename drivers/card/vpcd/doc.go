// Package vpcd puts a virtual card into the "Virtual PCD" reader that the
// vsmartcard-vpcd driver adds to a running pcscd, so that the PC/SC stack
// (pcscd, libpcsclite, drivers/card/pcsc and everything above it) can be
// exercised end to end without hardware.
//
// The card is a TCP client of the vpcd driver (port 35963, 0x8C7B, for
// "Virtual PCD 00 00" in Debian's /etc/reader.conf.d/vpcd). Every message
// in both directions is a frame: a 2-byte big-endian length followed by
// the payload. A 1-byte payload from the reader is a control code
// (CtrlPowerOff, CtrlPowerOn, CtrlReset: no reply; CtrlGetATR: reply with
// the ATR); a longer payload is a command APDU, answered by a response
// APDU (data followed by SW1 SW2). Closing the connection removes the
// card; connecting again inserts it.
//
// # Development and tests only
//
// vpcd listens on all network interfaces and trusts whoever connects:
// anyone who can reach the port can pose as a card, including a forged
// Individual Number Card. Use it on development machines and in tests
// (see drivers/card/cardtest, which runs a private pcscd). Never install
// vsmartcard-vpcd, or enable this client, on a real kiosk.
//
// # Latency
//
// vpcd writes the length and the payload of a frame with separate
// writes (Debian's 3.3 build); with the kernel's delayed ACK that costs
// about 40 ms per APDU. The client therefore sets TCP_QUICKACK on its
// socket before every read (Linux), which brings an APDU round trip
// through pcscd down to a fraction of a millisecond.
package vpcd
