module golang.org/x/mod

go 1.18

require golang.org/x/tools v0.13.0 // tagx:ignore
