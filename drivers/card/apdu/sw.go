package apdu

// Status words. ISO/IEC 7816-4:2020 §5.6, with the meanings the
// Individual Number Card gives them (JICSAP; shared/card-reference.md §7
// "Status words", sources MYNA-GO, OSC, MC, NFCPY).
const (
	// SWOK: normal processing.
	SWOK uint16 = 0x9000
	// SWVerifyFailBase: 63Cx, x = tries left; also the answer to an empty
	// VERIFY (remaining-tries query). 63C0 is the try that blocked the key
	// or the query on a blocked key. [ref §7; MYNA-GO LookupPin; OSC]
	SWVerifyFailBase uint16 = 0x63C0
	// SWVerifyFailNoCount: 6300, authentication failed, no counter (JICSAP;
	// Madoguchi also uses it for a wrong EXTERNAL AUTHENTICATE cryptogram).
	SWVerifyFailNoCount uint16 = 0x6300
	// SWWrongLength: 6700, wrong Lc or Le. [ref §7, MC]
	SWWrongLength uint16 = 0x6700
	// SWLogicalChannel: 6881, logical channel not supported. [ref §1, MC]
	SWLogicalChannel uint16 = 0x6881
	// SWSecureMessaging: 6882, secure messaging not supported. [ref §7, MC]
	SWSecureMessaging uint16 = 0x6882
	// SWLastCommandExpected / command chaining not supported: 6884 (ISO).
	SWChainingNotSupported uint16 = 0x6884
	// SWSecurityStatus: 6982, security status not satisfied (PIN not
	// verified). [ref §7, MC text.rs]
	SWSecurityStatus uint16 = 0x6982
	// SWBlocked: 6984, referenced key locked. Every VERIFY of a blocked key
	// answers this (not ISO's 6983). [ref §7, MYNA-GO reader.go, NFCPY]
	SWBlocked uint16 = 0x6984
	// SWConditionsOfUse: 6985, conditions of use not satisfied. [ref §7, MC]
	SWConditionsOfUse uint16 = 0x6985
	// SWNoCurrentEF: 6986, command not allowed (no current EF). [ref §7, MC;
	// MYNA-RS dummy]
	SWNoCurrentEF uint16 = 0x6986
	// SWWrongData: 6A80, incorrect data field. [ref §7, MC sm.rs]
	SWWrongData uint16 = 0x6A80
	// SWFileNotFound: 6A82, file or application not found. [ref §7]
	SWFileNotFound uint16 = 0x6A82
	// SWNotEnoughMemory: 6A84 (ISO), not enough memory in the file.
	SWNotEnoughMemory uint16 = 0x6A84
	// SWWrongP1P2: 6A86, incorrect P1-P2. [ref §7, MC]
	SWWrongP1P2 uint16 = 0x6A86
	// SWReferenceNotFound: 6A88 (ISO), referenced data not found.
	SWReferenceNotFound uint16 = 0x6A88
	// SWOffsetBeyondEnd: 6B00, offset at or past the end of the EF (JICSAP
	// 7.3.1). [ref §4 and §7, MC]
	SWOffsetBeyondEnd uint16 = 0x6B00
	// SWINSNotSupported: 6D00. [ref §7]
	SWINSNotSupported uint16 = 0x6D00
	// SWCLANotSupported: 6E00. [ref §7]
	SWCLANotSupported uint16 = 0x6E00
)

// Tries returns x of a 63Cx status word and whether sw is one.
func Tries(sw uint16) (int, bool) {
	if sw&0xFFF0 != SWVerifyFailBase {
		return 0, false
	}
	return int(sw & 0x000F), true
}
