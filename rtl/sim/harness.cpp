// Co-simulation harness: the Verilated accelerator (sepnet_accel) against a DRAM model, driven
// from Python through ctypes (tvm_sepnet/fpga/cosim.py). Not synthesized.
//
// DRAM model: the caller's byte array. The data port serves requests in order: a read's data
// starts `latency` cycles after its request (or when the previous request's data ends, whichever
// is later) and streams at `bytes_per_cycle` (a credit that grows by bytes_per_cycle per cycle while
// a transfer streams, a beat leaving when the credit covers its DRAM bytes, at most one beat per
// cycle); writes take their beats at the same rate from their request on and answer `latency`
// cycles after the last beat. The instruction channel is a second read stream with the same
// latency and its own credit (one 24-byte instruction per beat). Beat layout: sepnet_accel.sv.
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <deque>
#include <string>

#include "Vsepnet_accel.h"
#include "verilated.h"

#ifndef BUS_BYTES
#error "compile with -DBUS_BYTES=<the RTL's BUS_BYTES>"
#endif

namespace {

struct Request {
  uint64_t addr;
  uint32_t elem, count, slot;
  uint64_t accept;
  uint64_t beats, sent;
};

uint64_t beats_of(const Request& r) {
  if (r.slot <= BUS_BYTES) return (r.count + BUS_BYTES / r.slot - 1) / (BUS_BYTES / r.slot);
  return uint64_t(r.count) * (r.slot / BUS_BYTES);
}

// DRAM bytes of beat b: (element, offset in element, bytes, offset in beat) runs
template <typename F>
void for_each_run(const Request& r, uint64_t b, F f) {
  if (r.slot <= BUS_BYTES) {
    uint32_t per = BUS_BYTES / r.slot;
    for (uint32_t s = 0; s < per; s++) {
      uint64_t i = b * per + s;
      if (i >= r.count) break;
      f(r.addr + i * r.elem, r.elem, s * r.slot);
    }
  } else {
    uint32_t per = r.slot / BUS_BYTES;
    uint64_t i = b / per, off = (b % per) * BUS_BYTES;
    if (off < r.elem) f(r.addr + i * r.elem + off, uint32_t(std::min<uint64_t>(BUS_BYTES, r.elem - off)), 0);
  }
}

uint64_t useful_bytes(const Request& r, uint64_t b) {
  uint64_t n = 0;
  for_each_run(r, b, [&](uint64_t, uint32_t len, uint32_t) { n += len; });
  return n;
}

// An in-order read stream (data port reads or the instruction channel).
struct ReadStream {
  std::deque<Request> reqs;
  uint64_t done_at = 0;  // the cycle after the previous request's last beat
  double credit = 0.0;
};

struct Harness {
  VerilatedContext ctx;
  Vsepnet_accel* top;
  Harness() { top = new Vsepnet_accel(&ctx); }
  ~Harness() { delete top; }
};

void set_wide(VlWide<BUS_BYTES / 4>& w, const uint8_t* bytes) {
  for (int i = 0; i < BUS_BYTES / 4; i++) {
    uint32_t v;
    std::memcpy(&v, bytes + 4 * i, 4);
    w[i] = v;
  }
}

void get_wide(const VlWide<BUS_BYTES / 4>& w, uint8_t* bytes) {
  for (int i = 0; i < BUS_BYTES / 4; i++) {
    uint32_t v = w[i];
    std::memcpy(bytes + 4 * i, &v, 4);
  }
}

}  // namespace

extern "C" {

void* sepnet_rtl_new() { return new Harness(); }

void sepnet_rtl_free(void* h) { delete static_cast<Harness*>(h); }

int sepnet_rtl_bus_bytes() { return BUS_BYTES; }

// Runs the program at `insn_addr` until `done` (returns 0) or `max_cycles` (returns 1), or a DMA
// past the DRAM array (returns 2); `err` says what happened. stats: [0] cycles, [1] DRAM bytes read
// by LOADs, [2] DRAM bytes written, [3] instruction bytes fetched, [4] trace entries recorded.
// trace: per event (cycle << 8) | (end << 2) | queue, up to trace_cap entries.
int sepnet_rtl_run(void* handle, uint8_t* dram, uint64_t dram_size, uint64_t insn_addr, uint64_t insn_count,
                   double bytes_per_cycle, uint32_t latency, uint64_t max_cycles, uint64_t* stats, uint64_t* trace,
                   uint64_t trace_cap, char* err, int err_len) {
  Harness* h = static_cast<Harness*>(handle);
  Vsepnet_accel* t = h->top;
  ReadStream data, insns;
  std::deque<Request>& reads = data.reqs;
  std::deque<Request> writes;
  std::deque<uint64_t> responses;
  uint64_t write_done_at = 0;  // end of the previous write's data
  double& credit = data.credit;
  const double cap = 2.0 * BUS_BYTES + bytes_per_cycle;
  uint8_t beat[BUS_BYTES];
  uint64_t n_trace = 0, rd_bytes = 0, wr_bytes = 0, fetch_bytes = 0;
  std::memset(stats, 0, 5 * sizeof(uint64_t));

  auto fail = [&](int code, const std::string& msg) {
    std::snprintf(err, err_len, "%s", msg.c_str());
    return code;
  };
  auto in_dram = [&](uint64_t addr, uint64_t len) { return addr + len <= dram_size; };

  // reset, then start
  t->rst = 1;
  t->start = 0;
  t->rd_req_ready = 0;
  t->wr_req_ready = 0;
  t->rd_data_valid = 0;
  t->wr_data_ready = 0;
  t->wr_resp_valid = 0;
  t->if_req_ready = 0;
  t->if_data_valid = 0;
  for (int i = 0; i < 4; i++) {
    t->clk = 0; t->eval();
    t->clk = 1; t->eval();
  }
  t->rst = 0;
  t->start = 1;
  t->insn_addr = uint32_t(insn_addr);
  t->insn_count = uint32_t(insn_count);
  t->clk = 0; t->eval();
  t->clk = 1; t->eval();
  t->start = 0;

  for (uint64_t cyc = 0; cyc < max_cycles; cyc++) {
    // --- memory outputs for this cycle ---
    t->rd_req_ready = reads.size() < 64;
    t->wr_req_ready = writes.size() < 64;
    t->if_req_ready = insns.reqs.size() < 64;
    Request* rd = reads.empty() ? nullptr : &reads.front();
    Request* wr = writes.empty() ? nullptr : &writes.front();
    bool rd_streaming = rd && cyc >= std::max(rd->accept + latency, data.done_at);
    bool wr_streaming = wr && cyc >= std::max(wr->accept, write_done_at);
    if (rd_streaming || wr_streaming) credit = std::min(cap, credit + bytes_per_cycle);
    else credit = 0.0;
    bool rd_offer = false;
    uint64_t rd_useful = 0;
    if (rd_streaming) {
      rd_useful = useful_bytes(*rd, rd->sent);
      rd_offer = credit + 1e-9 >= double(rd_useful);
      if (rd_offer) {
        std::memset(beat, 0, BUS_BYTES);
        bool ok = true;
        for_each_run(*rd, rd->sent, [&](uint64_t a, uint32_t len, uint32_t off) {
          if (!in_dram(a, len)) ok = false;
          else std::memcpy(beat + off, dram + a, len);
        });
        if (!ok) return fail(2, "DMA read of a " + std::to_string(rd->count) + "-element row at byte " +
                                    std::to_string(rd->addr) + " past the end of DRAM (" + std::to_string(dram_size) + " bytes)");
        set_wide(t->rd_data, beat);
      }
    }
    t->rd_data_valid = rd_offer;
    uint64_t wr_useful = wr_streaming ? useful_bytes(*wr, wr->sent) : 0;
    bool wr_take = wr_streaming && !rd_offer && credit + 1e-9 >= double(wr_useful);
    t->wr_data_ready = wr_take;
    t->wr_resp_valid = !responses.empty() && responses.front() <= cyc;
    // instruction channel: its own stream and credit
    Request* in = insns.reqs.empty() ? nullptr : &insns.reqs.front();
    bool in_streaming = in && cyc >= std::max(in->accept + latency, insns.done_at);
    insns.credit = in_streaming ? std::min(cap, insns.credit + bytes_per_cycle) : 0.0;
    bool in_offer = in_streaming && insns.credit + 1e-9 >= 24.0;
    if (in_offer) {
      uint64_t a = in->addr + in->sent * 24;
      if (!in_dram(a, 24)) return fail(2, "instruction fetch past the end of DRAM at byte " + std::to_string(a));
      std::memset(beat, 0, BUS_BYTES);
      std::memcpy(beat, dram + a, 24);
      set_wide(t->if_data, beat);
    }
    t->if_data_valid = in_offer;

    t->clk = 0;
    t->eval();

    // --- handshakes of this cycle ---
    if (t->done) {
      stats[0] = cyc;
      stats[1] = rd_bytes;
      stats[2] = wr_bytes;
      stats[3] = fetch_bytes;
      stats[4] = n_trace;
      return 0;
    }
    for (int q = 0; q < 3; q++) {
      for (int e = 0; e < 2; e++) {
        bool ev = ((e ? t->trace_end : t->trace_start) >> q) & 1;
        if (ev && n_trace < trace_cap) trace[n_trace++] = (cyc << 8) | (uint64_t(e) << 2) | uint64_t(q);
      }
    }
    if (t->wr_resp_valid) responses.pop_front();
    if (rd_offer && t->rd_data_ready) {
      credit -= double(rd_useful);
      rd_bytes += rd_useful;
      if (++rd->sent == rd->beats) {
        data.done_at = cyc + 1;
        reads.pop_front();
      }
    }
    if (in_offer && t->if_data_ready) {
      insns.credit -= 24.0;
      fetch_bytes += 24;
      if (++in->sent == in->beats) {
        insns.done_at = cyc + 1;
        insns.reqs.pop_front();
      }
    }
    if (t->if_req_valid && t->if_req_ready) {
      Request r{t->if_req_addr, 24, t->if_req_count, BUS_BYTES, cyc, t->if_req_count, 0};
      if (r.beats) insns.reqs.push_back(r);
    }
    if (wr_take && t->wr_data_valid) {
      credit -= double(wr_useful);
      wr_bytes += wr_useful;
      get_wide(t->wr_data, beat);
      bool ok = true;
      for_each_run(*wr, wr->sent, [&](uint64_t a, uint32_t len, uint32_t off) {
        if (!in_dram(a, len)) ok = false;
        else std::memcpy(dram + a, beat + off, len);
      });
      if (!ok) return fail(2, "DMA write of a " + std::to_string(wr->count) + "-element row at byte " +
                                  std::to_string(wr->addr) + " past the end of DRAM (" + std::to_string(dram_size) + " bytes)");
      if (++wr->sent == wr->beats) {
        write_done_at = cyc + 1;
        responses.push_back(cyc + latency);
        writes.pop_front();
      }
    }
    if (t->rd_req_valid && t->rd_req_ready) {
      Request r{t->rd_req_addr, t->rd_req_elem, t->rd_req_count, t->rd_req_slot, cyc, 0, 0};
      if (r.slot == 0 || r.slot < r.elem || (r.slot & (r.slot - 1)))
        return fail(3, "read request with slot " + std::to_string(r.slot) + " for " + std::to_string(r.elem) + "-byte elements");
      r.beats = beats_of(r);
      if (r.beats) reads.push_back(r);
    }
    if (t->wr_req_valid && t->wr_req_ready) {
      Request r{t->wr_req_addr, t->wr_req_elem, t->wr_req_count, t->wr_req_slot, cyc, 0, 0};
      r.beats = beats_of(r);
      if (r.beats) writes.push_back(r);
      else responses.push_back(cyc + latency);
    }

    t->clk = 1;
    t->eval();
  }
  return fail(1, "the RTL did not finish within " + std::to_string(max_cycles) + " cycles (a token never pushed?)");
}

}  // extern "C"
