// Package scripts holds the shell scripts of the Makefile (deps.sh,
// demo.sh) and, in its tests, checks of what they do.
package scripts
