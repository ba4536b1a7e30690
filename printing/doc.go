// Package printing renders receipts as PDF and prints them through CUPS.
//
//   - Compose puts a stored receipt (app/receipt.Record) into words:
//     Japanese with the citizen's language beside it, dates in the
//     Japanese era and the Western calendar, the card's and the
//     certificates' expiry dates side by side, the QR code's payload.
//   - Render lays a Receipt out on 80 mm roll paper (Roll80, one page per
//     copy, as long as its content) or A4, with go-pdf/fpdf and the embedded
//     IPAex Gothic font (only the glyphs used are embedded). It wraps text
//     itself (Wrap: Japanese between any two characters, with kinsoku), as
//     fpdf's MultiCell drops characters at breaks in Japanese. It refuses
//     text shaped like an individual number.
//   - CUPS submits a PDF to a queue over IPP, follows the job, and reports a
//     printer that is offline, out of paper or stopped (cancelling the job).
//   - ReceiptRenderer and CUPS implement app/receipt's Renderer and Printer
//     ports, so that app/ imports neither fpdf nor an IPP client.
//
// docs/RECEIPTS.md describes the layouts, the verification scheme, the
// printer states and the font's licence.
package printing
