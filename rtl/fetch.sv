// Instruction fetch: reads the program (`count` instructions of 24 bytes from DRAM address `addr`)
// through the memory port in bursts, buffers it, and dispatches each instruction in program order
// to the load, compute or store queue (isa.py: LOADs into inp/wgt/bin_inp/bin_wgt to the load queue,
// STOREs to the store queue, the rest to the compute queue).
//
// A burst asks for as many instructions as the buffer can take when at least half of it (or the
// rest of the program) is free, so the fetch never holds the memory port waiting for room: the
// port goes to whoever the top-level arbiter grants it (`want` / `grant`), for the whole burst.
module fetch #(
  parameter int DEPTH = 32,
  parameter int BUS_BYTES = 64
) (
  input  logic                   clk,
  input  logic                   rst,
  input  logic                   start,
  input  logic [31:0]            addr,
  input  logic [31:0]            count,
  output logic                   want,
  input  logic                   grant,
  output logic                   busy,       // a burst holds the memory port
  output logic                   all_fetched,
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
  // dispatch
  output logic [191:0]           insn,
  output logic [1:0]             insn_queue,  // 0 load, 1 compute, 2 store
  output logic                   insn_valid,
  input  logic                   insn_ready
);
`include "isa_fields.svh"
  localparam int CW = $clog2(DEPTH + 1);
  logic [31:0] next_addr, left;      // instructions not yet requested
  logic [15:0] burst, in_flight;     // instructions of the current burst not yet received
  logic requested;
  logic [CW-1:0] held;
  logic [31:0] room;
  logic fifo_in_ready;

  assign room = 32'(DEPTH) - 32'(held);
  assign want = !busy && left != 0 && (room >= 32'(DEPTH / 2) || room >= left);
  assign rd_req_valid = busy && !requested;
  assign rd_req_addr = next_addr;
  assign rd_req_elem = 16'd24;
  assign rd_req_count = burst;
  assign rd_req_slot = 16'(BUS_BYTES);
  assign rd_data_ready = busy;  // room was reserved when the burst was asked for
  assign all_fetched = left == 0 && !busy;

  sync_fifo #(.W(192), .DEPTH(DEPTH)) buffer (
    .clk(clk), .rst(rst || start), .in_valid(busy && rd_data_valid), .in_ready(fifo_in_ready), .in_data(rd_data[191:0]),
    .out_valid(insn_valid), .out_ready(insn_ready), .out_data(insn), .count(held));

  always_comb begin
    if (insn[2:0] == OP_STORE) insn_queue = 2'd2;
    else if (insn[2:0] == OP_LOAD && insn[LOAD_BUFFER +: LOAD_BUFFER_W] != BUF_ACC &&
             insn[LOAD_BUFFER +: LOAD_BUFFER_W] != BUF_PARAM) insn_queue = 2'd0;
    else insn_queue = 2'd1;
  end

  always_ff @(posedge clk) begin
    if (rst) begin
      busy <= 1'b0;
      left <= 0;
    end else if (start) begin
      next_addr <= addr;
      left <= count;
      busy <= 1'b0;
    end else begin
      if (grant) begin
        burst <= 16'(room < left ? room : left);
        in_flight <= 16'(room < left ? room : left);
        left <= left - (room < left ? room : left);
        requested <= 1'b0;
        busy <= 1'b1;
      end
      if (rd_req_valid && rd_req_ready) begin
        requested <= 1'b1;
        next_addr <= next_addr + 32'(burst) * 24;
      end
      if (busy && rd_data_valid) begin
        in_flight <= in_flight - 1'b1;
        if (in_flight == 1) busy <= 1'b0;
      end
    end
  end
endmodule
