module litebox.test/gosignals

go 1.19
