module golang.org/x/text

go 1.18

require golang.org/x/tools v0.21.1-0.20240508182429-e35e4ccd0d2d // tagx:ignore

require golang.org/x/mod v0.17.0 // indirect; tagx:ignore

require golang.org/x/sync v0.10.0 // indirect
