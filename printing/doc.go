// Package printing renders receipts and reports as PDF (go-pdf/fpdf with an
// embedded Japanese font) and submits them to CUPS (issue #6).
package printing
