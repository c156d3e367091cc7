// Command cli does its one job and exits 0.
package main

import "fmt"

var version = "dev"

func main() { fmt.Println("cli", version) }
