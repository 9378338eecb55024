// Package initreg tests the SDK as an operator's own package uses it: the
// handler and the OnInit hook are registered in an init function, and the
// package's tests call Reset between them.
package initreg
