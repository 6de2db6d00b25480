// The accumulator buffer: ROWS rows of BLOCK_OUT 32-bit lanes (int32 sums or float32 values), in
// two banks (lower and upper half: the compiler's two slots), each a simple dual-port memory.
//
// - one write port: a whole row (`wr_mask` all ones, the compute core) or one bus-wide piece of a
//   row (the DMA loading a residual: `wr_mask` one-hot, data replicated across the row);
// - read port A (compute core), data the cycle after `a_en`;
// - read port S (store DMA): served when port A does not read the same bank in that cycle
//   (`s_gnt`), data the cycle after a granted `s_en`.
module acc_buffer #(
  parameter int ROWS = 2048,
  parameter int ROW_BYTES = 64,
  parameter int BUS_BYTES = 64
) (
  input  logic                    clk,
  input  logic                    wr_en,
  input  logic [15:0]             wr_row,
  input  logic [7:0]              wr_mask,  // bit p: write piece p (PIECES = ROW_BYTES / BUS_BYTES)
  input  logic [ROW_BYTES*8-1:0]  wr_data,
  input  logic                    a_en,
  input  logic [15:0]             a_row,
  output logic [ROW_BYTES*8-1:0]  a_data,
  input  logic                    s_en,
  input  logic [15:0]             s_row,
  output logic                    s_gnt,
  output logic [ROW_BYTES*8-1:0]  s_data
);
  localparam int PIECES = ROW_BYTES > BUS_BYTES ? ROW_BYTES / BUS_BYTES : 1;
  localparam int PB = ROW_BYTES / PIECES;  // bytes per piece
  localparam int HALF = ROWS / 2;
  localparam int AW = $clog2(HALF);

  logic a_bank, s_bank, a_bank_q, s_bank_q, wr_bank;
  logic [ROW_BYTES*8-1:0] q [0:1];

  assign a_bank = a_row >= 16'(HALF);
  assign s_bank = s_row >= 16'(HALF);
  assign wr_bank = wr_row >= 16'(HALF);
  assign s_gnt = s_en && !(a_en && a_bank == s_bank);

  generate
    for (genvar b = 0; b < 2; b = b + 1) begin : g_bank
      logic rd;
      logic [15:0] rd_row;
      assign rd = (a_en && a_bank == 1'(b)) || (s_gnt && s_bank == 1'(b));
      assign rd_row = (a_en && a_bank == 1'(b)) ? a_row : s_row;
      for (genvar p = 0; p < PIECES; p = p + 1) begin : g_piece
        logic [PB*8-1:0] mem [0:HALF-1];
        always_ff @(posedge clk) begin
          if (wr_en && wr_bank == 1'(b) && wr_mask[p]) mem[AW'(wr_row - 16'(b * HALF))] <= wr_data[p*PB*8 +: PB*8];
          if (rd) q[b][p*PB*8 +: PB*8] <= mem[AW'(rd_row - 16'(b * HALF))];
        end
      end
    end
  endgenerate

  always_ff @(posedge clk) begin
    if (a_en) a_bank_q <= a_bank;
    if (s_gnt) s_bank_q <= s_bank;
  end
  assign a_data = q[a_bank_q];
  assign s_data = q[s_bank_q];
endmodule
