// An on-chip buffer of ROWS rows of ROW_BYTES: one write port fed by the DMA (one memory beat of
// BUS_BYTES per cycle) and one read port (one row per cycle, data the cycle after `rd_en`).
//
// Rows wider than the bus are stored as PIECES column memories of BUS_BYTES, a beat writes one
// piece (`wr_piece`). With BANKED, rows narrower than the bus are spread over BANKS = BUS/ROW banks
// (row r in bank r mod BANKS), so one beat writes `wr_count` (1..BANKS) consecutive rows from any
// `wr_row`, slot i of the beat (bytes [i*ROW_BYTES, (i+1)*ROW_BYTES)) to row wr_row + i. Otherwise a
// beat writes one row from its low ROW_BYTES.
module row_buffer #(
  parameter int ROWS = 256,
  parameter int ROW_BYTES = 16,
  parameter int BUS_BYTES = 64,
  parameter int BANKED = 0
) (
  input  logic                     clk,
  input  logic                     wr_en,
  input  logic [15:0]              wr_row,
  input  logic [7:0]               wr_count,
  input  logic [7:0]               wr_piece,
  input  logic [BUS_BYTES*8-1:0]   wr_data,
  input  logic                     rd_en,
  input  logic [15:0]              rd_row,
  output logic [ROW_BYTES*8-1:0]   rd_data
);
  localparam int PIECES = ROW_BYTES > BUS_BYTES ? ROW_BYTES / BUS_BYTES : 1;
  localparam int BANKS = (BANKED != 0 && ROW_BYTES < BUS_BYTES) ? BUS_BYTES / ROW_BYTES : 1;
  localparam int PIECE_BYTES = ROW_BYTES > BUS_BYTES ? BUS_BYTES : ROW_BYTES;
  localparam int DEPTH = ROWS / BANKS;
  localparam int AW = DEPTH > 1 ? $clog2(DEPTH) : 1;
  localparam int BW = BANKS > 1 ? $clog2(BANKS) : 1;

  logic [ROW_BYTES*8-1:0] bank_q [0:BANKS-1];
  logic [BW-1:0] rd_bank_q;

  generate
    for (genvar b = 0; b < BANKS; b = b + 1) begin : g_bank
      // the slot of this beat that lands in bank b, and the row it goes to
      logic [BW-1:0] slot;
      logic [15:0] row;
      assign slot = BANKS > 1 ? BW'(b) - wr_row[BW-1:0] : '0;
      assign row = wr_row + {{(16-BW){1'b0}}, slot};
      for (genvar p = 0; p < PIECES; p = p + 1) begin : g_piece
        logic [PIECE_BYTES*8-1:0] mem [0:DEPTH-1];
        logic [PIECE_BYTES*8-1:0] q;
        logic we;
        logic [PIECE_BYTES*8-1:0] wd;
        if (BANKS > 1) begin : g_banked
          assign we = wr_en && {{(8-BW){1'b0}}, slot} < wr_count;
          always_comb begin
            wd = wr_data[PIECE_BYTES*8-1:0];
            for (int i = 1; i < BANKS; i = i + 1)
              if (32'(slot) == i) wd = wr_data[i*PIECE_BYTES*8 +: PIECE_BYTES*8];
          end
        end else begin : g_single
          assign we = wr_en && wr_piece == 8'(p);
          assign wd = wr_data[PIECE_BYTES*8-1:0];
        end
        always_ff @(posedge clk) begin
          if (we) mem[AW'(row / BANKS)] <= wd;
          if (rd_en) q <= mem[AW'(rd_row / BANKS)];
        end
        assign bank_q[b][p*PIECE_BYTES*8 +: PIECE_BYTES*8] = q;
      end
    end
  endgenerate

  always_ff @(posedge clk)
    if (rd_en) rd_bank_q <= BANKS > 1 ? rd_row[BW-1:0] : '0;
  assign rd_data = bank_q[rd_bank_q];
endmodule
