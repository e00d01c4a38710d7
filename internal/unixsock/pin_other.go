//go:build darwin || freebsd || netbsd || openbsd || dragonfly

package unixsock

// pin is -1 here: the BSDs cannot open a socket file (no O_PATH), so File
// tells its file by device, inode and change time.
func pin(string) int { return -1 }
