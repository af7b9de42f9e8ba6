/* The KVM probe guest: a 512-byte MBR boot sector that goes the whole way a
 * guest goes -- from the firmware's real mode through protected mode into
 * 64-bit long mode -- and only there writes FERRY-KVM-PROBE-OK to the first
 * serial port (0x3f8), then halts.  ferry-handler boots it once per start as
 * a throwaway domain: a /dev/kvm from a nested, software-assisted KVM
 * (kvm-pvm) lets qemu start and SeaBIOS print, then stops the guest with an
 * emulation failure; only a line written from long mode proves guests run.
 *
 * Assembled at build time (GNU as, ld, objcopy -O binary; see
 * launcher/CMakeLists.txt).  With --defsym FAULT=1 it becomes the payload
 * that faults on purpose: in long mode, before printing, it loads an empty
 * IDT and executes ud2 -- #UD, no handler, a triple fault, and the machine
 * resets (the probe domain has on_reboot=destroy), so tests see the
 * "cannot run guests" verdict on any machine. */
        .code16
        .section .text
        .globl _start
_start:
        ljmp    $0, $real           /* SeaBIOS may enter at 07c0:0000 */
real:
        cli
        xorw    %ax, %ax
        movw    %ax, %ds
        movw    %ax, %es
        movw    %ax, %ss
        movw    $0x7c00, %sp
        inb     $0x92, %al          /* fast A20 */
        orb     $2, %al
        andb    $0xfe, %al
        outb    %al, $0x92
        lgdtl   gdt_desc
        movl    %cr0, %eax
        orl     $1, %eax            /* PE */
        movl    %eax, %cr0
        ljmpl   $0x08, $prot

        .code32
prot:
        movw    $0x10, %ax
        movw    %ax, %ds
        movw    %ax, %es
        movw    %ax, %ss
        movl    $0x7c00, %esp
        /* page tables at 0x1000 (PML4), 0x2000 (PDPT), 0x3000 (PD):
         * the first 2 MiB identity-mapped with one large page */
        movl    $0x1000, %edi
        xorl    %eax, %eax
        movl    $(3 * 4096 / 4), %ecx
        cld
        rep stosl
        movl    $0x2003, 0x1000
        movl    $0x3003, 0x2000
        movl    $0x0083, 0x3000
        movl    %cr4, %eax
        orl     $(1 << 5), %eax     /* PAE */
        movl    %eax, %cr4
        movl    $0x1000, %eax
        movl    %eax, %cr3
        movl    $0xc0000080, %ecx   /* EFER */
        rdmsr
        orl     $(1 << 8), %eax     /* LME */
        wrmsr
        movl    %cr0, %eax
        orl     $(1 << 31), %eax    /* PG: long mode is active */
        movl    %eax, %cr0
        ljmpl   $0x18, $long

        .code64
long:
        .ifdef  FAULT
        lidt    idt_empty
        ud2
        .endif
        leaq    msg(%rip), %rsi
        movw    $0x3f8, %dx
1:      lodsb
        testb   %al, %al
        jz      2f
        outb    %al, %dx
        jmp     1b
2:      cli
        hlt
        jmp     2b

        .balign 8
gdt:
        .quad   0
        .quad   0x00cf9a000000ffff  /* 0x08: 32-bit code */
        .quad   0x00cf92000000ffff  /* 0x10: data */
        .quad   0x00af9a000000ffff  /* 0x18: 64-bit code */
gdt_end:
gdt_desc:
        .word   gdt_end - gdt - 1
        .long   gdt
idt_empty:
        .word   0
        .quad   0
msg:
        .ascii  "\r\nFERRY-KVM-PROBE-OK\r\n\0"

        .org    510
        .word   0xaa55
