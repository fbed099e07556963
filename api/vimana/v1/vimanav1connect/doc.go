// Package vimanav1connect holds the connect handlers and clients generated
// from vimana.proto (`make proto`). Do not edit the generated files.
package vimanav1connect
