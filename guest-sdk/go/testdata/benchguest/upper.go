package main

// upper upper-cases v's ASCII letters in place.
func upper(v []byte) {
	for i, c := range v {
		if 'a' <= c && c <= 'z' {
			v[i] = c - ('a' - 'A')
		}
	}
}
