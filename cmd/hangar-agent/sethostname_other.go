//go:build !linux

package main

import "errors"

func setHostname(string) error { return errors.New("setting the host name needs Linux") }
