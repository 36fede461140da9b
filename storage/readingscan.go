package storage

import (
	"unicode/utf8"
)

// ScanReading reports whether payload is a reading that needs no decoding:
// a flat JSON object of the sensor's fields, each a plain number for a NUMBER
// field or a plain string for a STRING field, every required field present,
// no timestamp. Such a payload is stored as it is. For anything else it
// returns false and the caller takes the slower ParseReading path, which
// converts what can be converted and explains what is wrong. It allocates
// nothing.
func ScanReading(sn Sensor, payload []byte) bool {
	if len(sn.Fields) > 64 {
		return false
	}
	s := scanner{b: payload}
	s.space()
	if !s.eat('{') {
		return false
	}
	var seen uint64
	s.space()
	if s.eat('}') {
		return false // empty: ParseReading explains
	}
	for {
		s.space()
		key, ok := s.str()
		if !ok {
			return false
		}
		i := fieldIndex(sn, key)
		if i < 0 || seen&(1<<i) != 0 {
			return false
		}
		seen |= 1 << i
		s.space()
		if !s.eat(':') {
			return false
		}
		s.space()
		switch sn.Fields[i].Type {
		case FieldNumber:
			if !s.num() {
				return false
			}
		case FieldString:
			if _, ok := s.str(); !ok {
				return false
			}
		}
		s.space()
		if s.eat('}') {
			break
		}
		if !s.eat(',') {
			return false
		}
	}
	s.space()
	if s.i != len(s.b) {
		return false
	}
	for i, f := range sn.Fields {
		if f.Required && seen&(1<<i) == 0 {
			return false
		}
	}
	return true
}

// fieldIndex finds a field by a name given as bytes, without allocating.
func fieldIndex(sn Sensor, name []byte) int {
	for i := range sn.Fields {
		if sn.Fields[i].Name == string(name) {
			return i
		}
	}
	return -1
}

type scanner struct {
	b []byte
	i int
}

func (s *scanner) space() {
	for s.i < len(s.b) && (s.b[s.i] == ' ' || s.b[s.i] == '\t' || s.b[s.i] == '\n' || s.b[s.i] == '\r') {
		s.i++
	}
}

func (s *scanner) eat(c byte) bool {
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// str reads a string without escapes or control characters, in valid UTF-8.
func (s *scanner) str() ([]byte, bool) {
	if !s.eat('"') {
		return nil, false
	}
	start := s.i
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			v := s.b[start:s.i]
			s.i++
			return v, utf8.Valid(v)
		case c == '\\' || c < 0x20:
			return nil, false
		}
		s.i++
	}
	return nil, false
}

// num reads a number without exponent, of at most 300 characters (so that
// it is always a finite float64): -?(0|[1-9][0-9]*)(\.[0-9]+)?
func (s *scanner) num() bool {
	start := s.i
	s.eat('-')
	switch {
	case s.eat('0'):
	case s.i < len(s.b) && s.b[s.i] >= '1' && s.b[s.i] <= '9':
		s.digits()
	default:
		return false
	}
	if s.eat('.') && s.digits() == 0 {
		return false
	}
	return s.i-start <= 300
}

func (s *scanner) digits() int {
	n := 0
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		s.i++
		n++
	}
	return n
}
