module github.com/wasmstream/wasmstream

go 1.26
