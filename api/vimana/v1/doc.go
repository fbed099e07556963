// Package vimanav1 holds the Go code generated from vimana.proto (`make
// proto`): the node API's messages. Do not edit the generated files.
package vimanav1
