// Instruction fetch: streams the program (`count` instructions of 24 bytes from DRAM address
// `addr`) through its own memory read channel into a DEPTH-entry buffer, and dispatches each
// instruction in program order to the load, compute or store queue (isa.py: LOADs into
// inp/wgt/bin_inp/bin_wgt to the load queue, STOREs to the store queue, the rest to the compute queue).
//
// The whole program is asked for at once (requests of up to 32768 instructions) and flows in at one
// instruction per cycle after the memory latency, held back (`rd_data_ready`) while the buffer is
// full. The channel is separate from the data port: instruction traffic (24 bytes per instruction)
// never waits behind a DMA transfer.
module fetch #(
  parameter int DEPTH = 64,
  parameter int BUS_BYTES = 64
) (
  input  logic                   clk,
  input  logic                   rst,
  input  logic                   start,
  input  logic [31:0]            addr,
  input  logic [31:0]            count,
  output logic                   all_fetched,
  // instruction read channel
  output logic                   rd_req_valid,
  input  logic                   rd_req_ready,
  output logic [31:0]            rd_req_addr,
  output logic [15:0]            rd_req_count,
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
  localparam int BURST = 32768;
  logic [31:0] next_addr, left, missing;  // instructions not yet requested / not yet received
  logic [CW-1:0] held;
  logic [31:0] burst;

  assign burst = left < BURST ? left : BURST;
  assign rd_req_valid = left != 0;
  assign rd_req_addr = next_addr;
  assign rd_req_count = 16'(burst);
  assign all_fetched = missing == 0;

  sync_fifo #(.W(192), .DEPTH(DEPTH)) buffer (
    .clk(clk), .rst(rst || start), .in_valid(rd_data_valid), .in_ready(rd_data_ready), .in_data(rd_data[191:0]),
    .out_valid(insn_valid), .out_ready(insn_ready), .out_data(insn), .count(held));

  always_comb begin
    if (insn[2:0] == OP_STORE) insn_queue = 2'd2;
    else if (insn[2:0] == OP_LOAD && insn[LOAD_BUFFER +: LOAD_BUFFER_W] != BUF_ACC &&
             insn[LOAD_BUFFER +: LOAD_BUFFER_W] != BUF_PARAM) insn_queue = 2'd0;
    else insn_queue = 2'd1;
  end

  always_ff @(posedge clk) begin
    if (rst) begin
      left <= 0;
      missing <= 0;
    end else if (start) begin
      next_addr <= addr;
      left <= count;
      missing <= count;
    end else begin
      if (rd_req_valid && rd_req_ready) begin
        next_addr <= next_addr + burst * 24;
        left <= left - burst;
      end
      if (rd_data_valid && rd_data_ready) missing <= missing - 1'b1;
    end
  end
endmodule
