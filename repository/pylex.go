package repository

import (
	"fmt"
	"strconv"
	"strings"
)

// ParsePythonNames parses the Python literal Ultralytics writes for class
// names into a slice indexed by id: a dict, e.g. {0: 'person', 1: "it's"},
// or, in YOLOv5 exports made from list-style dataset files, a list.
func ParsePythonNames(s string) ([]string, error) {
	p := pyLexer{s: strings.TrimSpace(s)}
	if p.eat('[') {
		return p.list()
	}
	if !p.eat('{') {
		return nil, fmt.Errorf("names: expected '{' or '['")
	}
	byID := map[int]string{}
	maxID := -1
	for {
		p.skipSpace()
		if p.eat('}') {
			break
		}
		id, err := p.int()
		if err != nil {
			return nil, err
		}
		p.skipSpace()
		if !p.eat(':') {
			return nil, fmt.Errorf("names: expected ':' after %d", id)
		}
		p.skipSpace()
		name, err := p.str()
		if err != nil {
			return nil, err
		}
		if id < 0 || id > 1<<16 {
			return nil, fmt.Errorf("names: class id %d out of range", id)
		}
		byID[id] = name
		if id > maxID {
			maxID = id
		}
		p.skipSpace()
		if p.eat(',') {
			continue
		}
		p.skipSpace()
		if !p.eat('}') {
			return nil, fmt.Errorf("names: expected ',' or '}' at offset %d", p.i)
		}
		break
	}
	out := make([]string, maxID+1)
	for i := range out {
		if n, ok := byID[i]; ok {
			out[i] = n
		} else {
			out[i] = strconv.Itoa(i)
		}
	}
	return out, nil
}

type pyLexer struct {
	s string
	i int
}

// list reads the strings of a list literal whose '[' is already eaten.
func (p *pyLexer) list() ([]string, error) {
	out := []string{}
	for {
		p.skipSpace()
		if p.eat(']') {
			return out, nil
		}
		if len(out) > 1<<16 {
			return nil, fmt.Errorf("names: more than %d classes", 1<<16)
		}
		name, err := p.str()
		if err != nil {
			return nil, err
		}
		out = append(out, name)
		p.skipSpace()
		if p.eat(',') {
			continue
		}
		if !p.eat(']') {
			return nil, fmt.Errorf("names: expected ',' or ']' at offset %d", p.i)
		}
		return out, nil
	}
}

func (p *pyLexer) skipSpace() {
	for p.i < len(p.s) && strings.ContainsRune(" \t\r\n", rune(p.s[p.i])) {
		p.i++
	}
}

func (p *pyLexer) eat(c byte) bool {
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *pyLexer) int() (int, error) {
	start := p.i
	if p.i < len(p.s) && p.s[p.i] == '-' {
		p.i++
	}
	for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
		p.i++
	}
	if p.i-start > 7 {
		return 0, fmt.Errorf("names: class id too long at offset %d", start)
	}
	n, err := strconv.Atoi(p.s[start:p.i])
	if err != nil {
		return 0, fmt.Errorf("names: expected a class id at offset %d", start)
	}
	return n, nil
}

func (p *pyLexer) str() (string, error) {
	if p.i >= len(p.s) || (p.s[p.i] != '\'' && p.s[p.i] != '"') {
		return "", fmt.Errorf("names: expected a quoted string at offset %d", p.i)
	}
	q := p.s[p.i]
	p.i++
	var b strings.Builder
	for p.i < len(p.s) {
		c := p.s[p.i]
		p.i++
		switch c {
		case q:
			return b.String(), nil
		case '\\':
			if p.i >= len(p.s) {
				return "", fmt.Errorf("names: unterminated string")
			}
			e := p.s[p.i]
			p.i++
			switch e {
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			default:
				b.WriteByte(e)
			}
		default:
			b.WriteByte(c)
		}
	}
	return "", fmt.Errorf("names: unterminated string")
}
