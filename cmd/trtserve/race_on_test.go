//go:build race

package main

// raceBuild: the tests run with -race, so the soak's server does too.
const raceBuild = true
