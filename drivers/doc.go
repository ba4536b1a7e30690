// Package drivers groups everything that talks to the world outside the
// terminal, one subpackage per peer, each behind a small interface that
// app/ depends on:
//
//   - drivers/card: the Individual Number Card over ISO 7816-4 APDUs, its
//     PC/SC transport, the virtual card and its vpcd bridge (issue #3);
//   - drivers/jlis: the J-LIS-style central system's client and reference
//     server (issue #4);
//   - drivers/phone: credentials on smartphones over NFC (issue #9).
//
// Until they land, the terminal runs in demo mode and says so on screen.
package drivers
