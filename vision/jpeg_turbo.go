//go:build cgo && !noturbojpeg

package vision

/*
#cgo LDFLAGS: -lturbojpeg
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <turbojpeg.h>

// One call per image keeps cgo crossings to two. Returns 0 or -1; errors
// are read with tjGetErrorStr2 before the handle is destroyed.
static int trt_jpeg_header(const unsigned char* buf, unsigned long size, int* w, int* h, int* cs, char* err, int errlen) {
	tjhandle t = tjInitDecompress();
	if (!t) { snprintf(err, errlen, "%s", tjGetErrorStr2(NULL)); return -1; }
	int subsamp;
	int rc = tjDecompressHeader3(t, buf, size, w, h, &subsamp, cs);
	if (rc != 0) snprintf(err, errlen, "%s", tjGetErrorStr2(t));
	tjDestroy(t);
	return rc;
}

// pf is TJPF_RGB, or TJPF_CMYK for a CMYK or YCCK file: libjpeg-turbo
// cannot convert those to RGB, and OpenCV converts libjpeg's CMYK itself.
// TurboJPEG's defaults are libjpeg's, which OpenCV keeps: JDCT_ISLOW and
// fancy upsampling.
static int trt_jpeg_decode(const unsigned char* buf, unsigned long size, unsigned char* dst, int w, int h, int pf, char* err, int errlen) {
	tjhandle t = tjInitDecompress();
	if (!t) { snprintf(err, errlen, "%s", tjGetErrorStr2(NULL)); return -1; }
	// LIMITSCANS refuses progressive files of more than 500 scans: a few
	// kilobytes of them can otherwise keep a core busy for minutes.
	int rc = tjDecompress2(t, buf, size, dst, w, w * tjPixelSize[pf], h, pf, TJFLAG_LIMITSCANS);
	// Warnings such as extraneous bytes leave a good image; a truncated
	// file ("Premature end of JPEG file") leaves grey rows, so it fails.
	if (rc != 0 && tjGetErrorCode(t) == TJERR_WARNING && !strstr(tjGetErrorStr2(t), "Premature end")) rc = 0;
	if (rc != 0) snprintf(err, errlen, "%s", tjGetErrorStr2(t));
	tjDestroy(t);
	return rc;
}
*/
import "C"

import (
	"fmt"
	"unsafe"
)

// JPEGDecoder names the JPEG implementation compiled in.
const JPEGDecoder = "libjpeg-turbo"

func jpegHeader(data []byte) (w, h int, cmyk bool, err error) {
	var cw, ch, cs C.int
	var errbuf [256]C.char
	if C.trt_jpeg_header((*C.uchar)(unsafe.Pointer(&data[0])), C.ulong(len(data)), &cw, &ch, &cs, &errbuf[0], 256) != 0 {
		return 0, 0, false, fmt.Errorf("%w: jpeg: %s", ErrCorruptImage, C.GoString(&errbuf[0]))
	}
	return int(cw), int(ch), cs == C.TJCS_CMYK || cs == C.TJCS_YCCK, nil
}

// decodeJPEG decodes with libjpeg-turbo, downscaling by 1/2, 1/4 or 1/8 in
// the DCT domain (much cheaper than decoding then resizing) when the result
// stays at least as large as need(w, h) says.
func decodeJPEG(data []byte, limit int64, need func(w, h int) (int, int)) (*Image, error) {
	w, h, cmyk, err := jpegHeader(data)
	if err != nil {
		return nil, err
	}
	if err := checkPixels(w, h, limit); err != nil {
		return nil, err
	}
	dw, dh := w, h
	if tw, th := need(w, h); tw > 0 && th > 0 {
		for _, denom := range []int{8, 4, 2} {
			sw, sh := (w+denom-1)/denom, (h+denom-1)/denom
			if sw >= tw && sh >= th {
				dw, dh = sw, sh
				break
			}
		}
	}
	img := &Image{Pix: newPix(dw * dh * 3), W: dw, H: dh, SrcW: w, SrcH: h}
	dst, pf := img.Pix, C.int(C.TJPF_RGB)
	if cmyk {
		dst, pf = make([]byte, dw*dh*4), C.TJPF_CMYK
	}
	var errbuf [256]C.char
	if C.trt_jpeg_decode((*C.uchar)(unsafe.Pointer(&data[0])), C.ulong(len(data)),
		(*C.uchar)(unsafe.Pointer(&dst[0])), C.int(dw), C.int(dh), pf, &errbuf[0], 256) != 0 {
		img.Release()
		return nil, fmt.Errorf("%w: jpeg: %s", ErrCorruptImage, C.GoString(&errbuf[0]))
	}
	if cmyk {
		for i, o := 0, 0; i+3 < len(dst); i, o = i+4, o+3 {
			img.Pix[o], img.Pix[o+1], img.Pix[o+2] = cmykToRGB(dst[i], dst[i+1], dst[i+2], dst[i+3])
		}
	}
	return img, nil
}
