// DMA read engine: executes one LOAD (isa.py) at a time, a 2-D strided read from DRAM into a buffer
// with zero padding around the block.
//
// For each of the `y_size` DRAM rows it requests `x_size` elements of `elem` bytes from the memory
// port (request i at dram + i * x_stride * elem); the port returns them packed in beats of
// BUS_BYTES, element j in slot j mod (BUS/slot) of a beat when `slot` <= BUS, else over slot/BUS
// beats. The writer walks the padded block row by row and writes, per cycle, either up to BANKS zero
// rows / one zero piece (padding) or the rows / piece of the next beat (data): the buffers take one
// beat per cycle. Bytes of a row past the element (the bit-planes a `bin_inp` load does not bring)
// are written as zeros. `done` pulses the cycle after the last write.
module dma_load #(
  parameter int BLOCK_IN = 16,
  parameter int BLOCK_OUT = 16,
  parameter int BIN_IN = 64,
  parameter int MAX_BITS = 8,
  parameter int BUS_BYTES = 64
) (
  input  logic                   clk,
  input  logic                   rst,
  input  logic                   start,
  input  logic [191:0]           insn,
  output logic                   busy,
  output logic                   done,
  // memory read port
  output logic                   rd_req_valid,
  input  logic                   rd_req_ready,
  output logic [31:0]            rd_req_addr,
  output logic [15:0]            rd_req_elem,
  output logic [15:0]            rd_req_count,
  output logic [15:0]            rd_req_slot,
  input  logic                   rd_data_valid,
  output logic                   rd_data_ready,
  input  logic [BUS_BYTES*8-1:0] rd_data,
  // buffer write port (row_buffer / acc_buffer)
  output logic                   wr_en,
  output logic [2:0]             wr_buf,
  output logic [15:0]            wr_row,
  output logic [7:0]             wr_count,
  output logic [7:0]             wr_piece,
  output logic [BUS_BYTES*8-1:0] wr_data
);
`include "isa_fields.svh"
  localparam int INP_BANKS = BLOCK_IN < BUS_BYTES ? BUS_BYTES / BLOCK_IN : 1;

  function automatic [15:0] row_bytes(input [2:0] b);
    case (b)
      BUF_INP: row_bytes = 16'(BLOCK_IN);
      BUF_WGT: row_bytes = 16'(BLOCK_IN * BLOCK_OUT);
      BUF_BIN_INP: row_bytes = 16'(MAX_BITS * BIN_IN / 8);
      BUF_BIN_WGT: row_bytes = 16'(BLOCK_OUT * BIN_IN / 8);
      BUF_ACC: row_bytes = 16'(4 * BLOCK_OUT);
      default: row_bytes = 16'(8 * BLOCK_OUT);
    endcase
  endfunction

  // the instruction, latched at start
  logic [2:0] buffer;
  logic [15:0] y_size, x_size, elem, slot, banks, pieces;
  logic [3:0] pad_top, pad_left;
  // request generator
  logic [15:0] req_y;
  logic [31:0] req_addr, stride_bytes;
  // writer
  logic [16:0] ys, xs, wy, wx;
  logic [15:0] wrow;
  logic [7:0] piece;
  logic data_row, in_data, fire;
  logic [16:0] run_end, run_left;
  logic [7:0] n;
  logic [BUS_BYTES*8-1:0] masked;
  logic [2:0] start_buf;
  logic [15:0] start_row, start_elem;

  assign start_buf = insn[LOAD_BUFFER +: LOAD_BUFFER_W];
  assign start_row = row_bytes(start_buf);
  assign start_elem = start_buf == BUF_BIN_INP ? 16'(insn[LOAD_PLANES +: LOAD_PLANES_W]) * 16'(BIN_IN / 8) : start_row;

  assign rd_req_valid = busy && req_y < y_size && x_size != 0;
  assign rd_req_addr = req_addr;
  assign rd_req_elem = elem;
  assign rd_req_count = x_size;
  assign rd_req_slot = slot;

  assign data_row = wy >= 17'(pad_top) && wy < 17'(pad_top) + 17'(y_size);
  assign in_data = data_row && wx >= 17'(pad_left) && wx < 17'(pad_left) + 17'(x_size);
  always_comb begin
    if (in_data) run_end = 17'(pad_left) + 17'(x_size);
    else if (data_row && wx < 17'(pad_left)) run_end = 17'(pad_left);
    else run_end = xs;
    run_left = run_end - wx;
    n = (banks > 1 && run_left > 17'(banks)) ? banks[7:0] : (banks > 1 ? run_left[7:0] : 8'd1);
  end
  // a cycle's write: padding always, data when a beat is there
  assign fire = busy && wy < ys && (!in_data || rd_data_valid);
  assign rd_data_ready = busy && wy < ys && in_data;
  // bytes of this beat inside the element: all of them, or the first `keep` (a bin_inp row's planes)
  logic [16:0] keep;
  logic [16:0] prior;  // element bytes in the earlier pieces of the row
  assign prior = 17'(piece) * 17'(BUS_BYTES);
  assign keep = (banks > 1 || 17'(elem) >= prior + 17'(BUS_BYTES)) ? 17'(BUS_BYTES)
              : (17'(elem) > prior ? 17'(elem) - prior : 17'd0);
  always_comb
    for (int i = 0; i < BUS_BYTES; i = i + 1)
      masked[i*8 +: 8] = 17'(i) < keep ? rd_data[i*8 +: 8] : 8'd0;

  assign wr_en = fire;
  assign wr_buf = buffer;
  assign wr_row = wrow;
  assign wr_count = n;
  assign wr_piece = piece;
  assign wr_data = in_data ? masked : '0;

  always_ff @(posedge clk) begin
    done <= 1'b0;
    if (rst) begin
      busy <= 1'b0;
    end else if (start) begin
      buffer <= insn[LOAD_BUFFER +: LOAD_BUFFER_W];
      y_size <= insn[LOAD_Y_SIZE +: LOAD_Y_SIZE_W];
      x_size <= insn[LOAD_X_SIZE +: LOAD_X_SIZE_W];
      pad_top <= insn[LOAD_PAD_TOP +: 4];
      pad_left <= insn[LOAD_PAD_LEFT +: 4];
      elem <= start_elem;
      banks <= start_buf == BUF_INP ? 16'(INP_BANKS) : 16'd1;
      pieces <= start_row > 16'(BUS_BYTES) ? start_row / 16'(BUS_BYTES) : 16'd1;
      slot <= (start_buf == BUF_INP && INP_BANKS > 1) ? start_row :
              (start_row > 16'(BUS_BYTES) ? start_row : 16'(BUS_BYTES));
      stride_bytes <= 32'(insn[LOAD_X_STRIDE +: LOAD_X_STRIDE_W]) * 32'(start_elem);
      req_y <= 0;
      req_addr <= insn[LOAD_DRAM +: LOAD_DRAM_W];
      ys <= 17'(insn[LOAD_PAD_TOP +: 4]) + 17'(insn[LOAD_Y_SIZE +: LOAD_Y_SIZE_W]) + 17'(insn[LOAD_PAD_BOTTOM +: 4]);
      xs <= 17'(insn[LOAD_PAD_LEFT +: 4]) + 17'(insn[LOAD_X_SIZE +: LOAD_X_SIZE_W]) + 17'(insn[LOAD_PAD_RIGHT +: 4]);
      wy <= 0;
      wx <= 0;
      wrow <= insn[LOAD_SRAM +: LOAD_SRAM_W];
      piece <= 0;
      busy <= 1'b1;
    end else if (busy) begin
      if (rd_req_valid && rd_req_ready) begin
        req_y <= req_y + 1'b1;
        req_addr <= req_addr + stride_bytes;
      end
      if (fire) begin
        if (pieces > 1 && 16'(piece) != pieces - 1) begin
          piece <= piece + 1'b1;
        end else begin
          piece <= 0;
          wrow <= wrow + 16'(n);
          if (wx + 17'(n) == xs) begin
            wx <= 0;
            wy <= wy + 1'b1;
          end else begin
            wx <= wx + 17'(n);
          end
        end
      end
      if (wy >= ys || xs == 0) begin
        busy <= 1'b0;
        done <= 1'b1;
      end
    end
  end
endmodule
