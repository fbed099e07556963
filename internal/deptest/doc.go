// Package deptest holds the tests that check the repository's layering
// mechanically (ARCHITECTURE.md, STYLE.md §10): forbidden imports between
// layers, provider packages imported only by the node's builtins, and a
// package doc comment on every package. It has no non-test code.
package deptest
