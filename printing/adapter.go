package printing

import (
	"context"
	"fmt"

	"madoguchi/app/i18n"
	"madoguchi/app/receipt"
)

// ReceiptRenderer renders stored receipts for receipt.Service: Compose
// then Render, in one layout, with or without the municipality's copy.
type ReceiptRenderer struct {
	rd     *Renderer
	msgs   *i18n.Bundle
	layout Layout
	copy   bool
}

// NewReceiptRenderer makes a receipt.Renderer.
func NewReceiptRenderer(msgs *i18n.Bundle, layout Layout, municipalityCopy bool) (*ReceiptRenderer, error) {
	if _, err := styleOf(layout); err != nil {
		return nil, err
	}
	rd, err := NewRenderer()
	if err != nil {
		return nil, err
	}
	return &ReceiptRenderer{rd: rd, msgs: msgs, layout: layout, copy: municipalityCopy}, nil
}

// Render implements receipt.Renderer.
func (r *ReceiptRenderer) Render(ctx context.Context, rec receipt.Record) (receipt.Document, error) {
	if err := ctx.Err(); err != nil {
		return receipt.Document{}, err
	}
	p, err := r.rd.Render(Compose(r.msgs, rec, Options{MunicipalityCopy: r.copy}), r.layout)
	if err != nil {
		return receipt.Document{}, fmt.Errorf("receipt %s: %w", rec.Number, err)
	}
	return receipt.Document{Name: rec.Number, PDF: p.Bytes, Media: p.Media}, nil
}
