"""Detection on long audio, by concern: `framing` (window grid, block-wise front end),
`postprocess` (scores -> decisions -> events) and `outputs` (writers, threshold parsing).
The offline pipeline that ties them together is `raresound.detect`; streaming is
`raresound.streaming`."""
