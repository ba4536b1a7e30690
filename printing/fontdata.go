package printing

// FontTTF returns the embedded IPAex Gothic font file, for the other PDF
// writers of the program (the daily report) to register with fpdf under
// FontName, so that the font is embedded in the binary once. The slice is
// shared: do not modify it.
func FontTTF() []byte { return ipaexGothic }
