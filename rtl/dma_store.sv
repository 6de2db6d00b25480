// DMA write engine: executes one STORE (isa.py): `y_size` x `x_size` accumulator rows from `sram`
// on, to DRAM row y at dram + y * x_stride * ROW_BYTES (one write request per DRAM row).
//
// A reader fetches the rows in order through the accumulator buffer's store port (retrying when the
// compute core reads the same bank), into a small row FIFO; the sender splits each row into
// ROW_BYTES / BUS_BYTES beats (one beat per row when the row is narrower than the bus). `done`
// pulses once the memory has acknowledged every request.
module dma_store #(
  parameter int ROW_BYTES = 64,
  parameter int BUS_BYTES = 64
) (
  input  logic                   clk,
  input  logic                   rst,
  input  logic                   start,
  input  logic [191:0]           insn,
  output logic                   busy,
  output logic                   done,
  // accumulator buffer, store port
  output logic                   acc_en,
  output logic [15:0]            acc_row,
  input  logic                   acc_gnt,
  input  logic [ROW_BYTES*8-1:0] acc_data,
  // memory write port
  output logic                   wr_req_valid,
  input  logic                   wr_req_ready,
  output logic [31:0]            wr_req_addr,
  output logic [15:0]            wr_req_elem,
  output logic [15:0]            wr_req_count,
  output logic [15:0]            wr_req_slot,
  output logic                   wr_data_valid,
  input  logic                   wr_data_ready,
  output logic [BUS_BYTES*8-1:0] wr_data,
  input  logic                   wr_resp_valid
);
`include "isa_fields.svh"
  localparam int PIECES = ROW_BYTES > BUS_BYTES ? ROW_BYTES / BUS_BYTES : 1;
  localparam int PB = ROW_BYTES / PIECES;
  localparam int DEPTH = 4;

  logic [15:0] y_size, x_size, req_y, resp_n;
  logic [31:0] rows_left;
  logic [31:0] req_addr, stride_bytes;
  logic [15:0] rd_row;
  logic rd_pending;
  logic [7:0] piece;
  logic fifo_in_ready, fifo_out_valid, fifo_pop;
  logic [ROW_BYTES*8-1:0] fifo_out;
  logic [$clog2(DEPTH+1)-1:0] fifo_count;
  logic sent_all;

  assign wr_req_valid = busy && req_y < y_size && x_size != 0;
  assign wr_req_addr = req_addr;
  assign wr_req_elem = 16'(ROW_BYTES);
  assign wr_req_count = x_size;
  assign wr_req_slot = ROW_BYTES > BUS_BYTES ? 16'(ROW_BYTES) : 16'(BUS_BYTES);

  // reader: one row per cycle while the FIFO has room for it and the row in flight
  assign acc_en = busy && rows_left != 0 && 32'(fifo_count) + 32'(rd_pending) < DEPTH;
  assign acc_row = rd_row;

  sync_fifo #(.W(ROW_BYTES * 8), .DEPTH(DEPTH)) rows (
    .clk(clk), .rst(rst || start), .in_valid(rd_pending), .in_ready(fifo_in_ready), .in_data(acc_data),
    .out_valid(fifo_out_valid), .out_ready(fifo_pop), .out_data(fifo_out), .count(fifo_count));

  // sender: piece `piece` of the oldest row
  assign wr_data_valid = busy && fifo_out_valid;
  always_comb begin
    wr_data = '0;
    wr_data[PB*8-1:0] = fifo_out[PB*8-1:0];
    for (int p = 1; p < PIECES; p = p + 1)
      if (32'(piece) == p) wr_data[PB*8-1:0] = fifo_out[p*PB*8 +: PB*8];
  end
  assign fifo_pop = wr_data_valid && wr_data_ready && 32'(piece) == PIECES - 1;
  assign sent_all = rows_left == 0 && !rd_pending && !fifo_out_valid;

  always_ff @(posedge clk) begin
    done <= 1'b0;
    if (rst) begin
      busy <= 1'b0;
      rd_pending <= 1'b0;
    end else if (start) begin
      y_size <= insn[STORE_Y_SIZE +: STORE_Y_SIZE_W];
      x_size <= insn[STORE_X_SIZE +: STORE_X_SIZE_W];
      stride_bytes <= 32'(insn[STORE_X_STRIDE +: STORE_X_STRIDE_W]) * ROW_BYTES;
      req_addr <= insn[STORE_DRAM +: STORE_DRAM_W];
      rd_row <= insn[STORE_SRAM +: STORE_SRAM_W];
      rows_left <= 32'(insn[STORE_Y_SIZE +: STORE_Y_SIZE_W]) * 32'(insn[STORE_X_SIZE +: STORE_X_SIZE_W]);
      req_y <= 0;
      resp_n <= 0;
      piece <= 0;
      rd_pending <= 1'b0;
      busy <= 1'b1;
    end else if (busy) begin
      if (wr_req_valid && wr_req_ready) begin
        req_y <= req_y + 1'b1;
        req_addr <= req_addr + stride_bytes;
      end
      rd_pending <= acc_en && acc_gnt;
      if (acc_en && acc_gnt) begin
        rd_row <= rd_row + 1'b1;
        rows_left <= rows_left - 1'b1;
      end
      if (wr_data_valid && wr_data_ready) piece <= 32'(piece) == PIECES - 1 ? 8'd0 : piece + 1'b1;
      if (wr_resp_valid) resp_n <= resp_n + 1'b1;
      if (sent_all && (x_size == 0 || resp_n == y_size)) begin
        busy <= 1'b0;
        done <= 1'b1;
      end
    end
  end
endmodule
