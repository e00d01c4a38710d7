package timeproto_test

import (
	"fmt"
	"time"

	"github.com/edgeloop/edgeloop/protocols/timeproto"
)

func ExampleAppendDaytime() {
	t := time.Date(2026, 11, 4, 18, 44, 7, 0, time.UTC)
	fmt.Printf("%q\n", timeproto.AppendDaytime(nil, t))
	// Output: "Wed Nov  4 18:44:07 2026\r\n"
}

func ExampleAppendTime() {
	t := time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)
	fmt.Printf("% x\n", timeproto.AppendTime(nil, t))
	// Output: 83 aa 7e 80
}

func ExampleSNTPReply() {
	sent := time.Date(2026, 11, 24, 18, 44, 7, 0, time.UTC)
	req := timeproto.SNTPRequest(nil, 4, sent)

	recv := sent.Add(20 * time.Millisecond)
	reply, err := timeproto.SNTPReply(nil, req, recv, recv.Add(time.Microsecond), timeproto.SNTPConfig{})
	if err != nil {
		fmt.Println("no reply:", err)
		return
	}

	p, err := timeproto.ParseSNTPReply(reply)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(p.Mode, p.Stratum, string(p.RefID[:]), p.Originate == timeproto.ToNTP(sent))
	fmt.Println(timeproto.FromNTP(p.Transmit, sent).Format(time.RFC3339Nano))

	_, err = timeproto.SNTPReply(nil, req[:47], recv, recv, timeproto.SNTPConfig{})
	fmt.Println(err)
	// Output:
	// 4 1 LOCL true
	// 2026-11-24T18:44:07.020001Z
	// timeproto: ntp packet shorter than 48 bytes
}
