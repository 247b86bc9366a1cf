package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/hangarvm/hangar/internal/client"
	"github.com/hangarvm/hangar/internal/hangar"
)

func newImageCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "image",
		Short: "Create, list, show, share and publish images",
		Long: `Images give new VMs their operating system.

An OS image (--type os) holds exactly one generalized OS disk. A VM image (--type vm)
holds an OS disk, generalized or specialized, and any data disks, each at a LUN.

An image reference is one of:
  NAME[@VERSION]                         your own image
  shared/TENANT/NAME[@VERSION]           an image another tenant shared with you
  community/PUBLICNAME/IMAGE[/VERSION]   the community repository
  PUBLISHER:OFFER:SKU:VERSION            the marketplace (VERSION may be latest)`,
	}
	cmd.AddCommand(newImageCreateCmd(g), newImageListCmd(g), newImageShowCmd(g), newImageDeleteCmd(g),
		newImageShareCmd(g, true), newImageShareCmd(g, false), newImageUpdateVersionCmd(g),
		newPublishCommunityCmd(g), newUnpublishCommunityCmd(g), newImageReplicateCmd(g), newImageSetPropertiesCmd(g))
	return cmd
}

func newImageCreateCmd(g *globals) *cobra.Command {
	var (
		req       hangar.ImageCreate
		typ       string
		osType    string
		osState   string
		dataDisks []string
		defs      definitionFlags
	)
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Create an image, or add a version to an existing image",
		Long: `Create an image from disks you uploaded. Running it again with the same --name and
a new --version adds a version (the definition must match).

Generalize a disk before making an OS image of it (Sysprep for Windows, the guest
agent's deprovision for Linux): every VM made from it is then provisioned with its own
name, admin account and keys. A specialized disk is used as it is.`,
		Example: `  hangar image create --name web --type os --os-type linux --os-state generalized --os-disk web-os
  hangar image create --name db --type vm --os-type linux --os-state specialized \
      --os-disk db-os --data-disk 0=db-data --data-disk 1=db-logs --version 2.0.0
  hangar image create -n secure -g prod --type os --os-type linux --os-state generalized --os-disk web-os \
      --hyper-v-generation V2 --features "SecurityType=TrustedLaunch" --minimum-cpu-core 2 \
      --disallowed-disk-types Standard_LRS --properties os_distro=ubuntu`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			req.Type, req.OSType, req.OSState = hangar.ImageType(typ), hangar.OSType(osType), hangar.OSState(osState)
			for _, spec := range dataDisks {
				lun, disk, ok := strings.Cut(spec, "=")
				n, err := strconv.Atoi(lun)
				if !ok || err != nil {
					return usageErrorf("--data-disk %q must be LUN=DISK, for example 0=data0", spec)
				}
				req.DataDisks = append(req.DataDisks, hangar.DataDiskSpec{LUN: n, Disk: disk})
			}
			if err := defs.apply(&req); err != nil {
				return err
			}
			im, err := g.client().CreateImage(cmd.Context(), req)
			if err != nil {
				return err
			}
			if err := g.tagNew(cmd, "images", im.Name, &im); err != nil {
				return err
			}
			return g.print(cmd, im, func(w io.Writer) {
				fmt.Fprintf(w, "Image %s version %s created (%s image, %s %s).\n", im.Name, orDash(req.Version), im.Type, im.OSType, im.OSState)
			})
		},
	}
	f := cmd.Flags()
	f.StringVarP(&req.Name, "name", "n", "", "image name")
	enumVar(f, &typ, "type", "", imageTypes, "os (one generalized OS disk) or vm (OS disk plus data disks)")
	enumVar(f, &osType, "os-type", "", osTypes, "linux or windows")
	enumVar(f, &osState, "os-state", "", osStates, "generalized or specialized")
	f.StringVar(&req.OSDisk, "os-disk", "", "name of the uploaded OS disk")
	f.StringArrayVar(&dataDisks, "data-disk", nil, "data disk as LUN=DISK (repeatable; VM images only)")
	enumVar(f, &req.HyperVGeneration, "hyperv-generation", "", hyperVGenerations, "V1 (BIOS) or V2 (UEFI) (default V1 for a new image)")
	enumVar(f, (*string)(&req.ProvisioningAgent), "provisioning-agent", "", agents, "what in the guest provisions new VMs and reports ready: "+hangar.ProvisioningAgents+
		" (default auto for a new image: whichever reports)")
	enumVar(f, &req.Architecture, "architecture", "", architectures, "x64 or Arm64 (default x64 for a new image)")
	f.StringVar(&req.Version, "version", "1.0.0", "version, Major.Minor.Patch")
	f.BoolVar(&req.ExcludeFromLatest, "exclude-from-latest", false, "never resolve latest to this version")
	f.StringVar(&req.EndOfLife, "end-of-life", "", "end-of-life date, YYYY-MM-DD (informational)")
	f.StringVar(&req.Description, "description", "", "description")
	f.StringVar(&req.EULA, "eula", "", "end-user license agreement (text or URL)")
	f.StringVarP(&req.ResourceGroup, "resource-group", "g", "", "ARM resource group to record a new image in (default hangar); ARM shows it there")
	defs.register(f)
	// --type, --os-type and --os-state only for a new image: a new version of an
	// existing one takes them from it (the server says so when they are missing).
	for _, name := range []string{"name", "os-disk"} {
		cmd.MarkFlagRequired(name)
	}
	return cmd
}

func newImageListCmd(g *globals) *cobra.Command {
	var all bool
	var group string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List your images; --all lists every image you may use, with its reference",
		Example: `  hangar image list
  hangar image list --all --query "[].reference" -o tsv
  hangar image list -g prod`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			list, err := g.client().ListImagesFiltered(cmd.Context(), all, client.ListFilter{Tags: g.tagFilter, ResourceGroup: group})
			if err != nil {
				return err
			}
			return g.print(cmd, list, func(w io.Writer) {
				row(w, "REFERENCE", "SOURCE", "TYPE", "OS", "STATE", "GEN", "LATEST", "VERSIONS")
				for _, s := range list {
					row(w, s.Reference, s.Source, s.Type, s.OSType, s.OSState, s.HyperVGeneration, orDash(s.LatestVersion), s.Versions)
				}
			})
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "include shared, community and marketplace images")
	cmd.Flags().StringVarP(&group, "resource-group", "g", "", "only your images in this ARM resource group")
	return cmd
}

func newImageShowCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "show REF",
		Short: "Show an image and its versions",
		Example: `  hangar image show web
  hangar image show shared/alice/web
  hangar image show community/acme/web
  hangar image show Contoso:Linux:base:latest`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ref, err := hangar.ParseRef(args[0])
			if err != nil {
				return err
			}
			if ref.Kind == hangar.RefMarketplace {
				return showMarketplaceImage(cmd, g, args[0])
			}
			im, err := g.client().Image(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return g.print(cmd, im, func(w io.Writer) { printImage(w, &im) })
		},
	}
}

func printImage(w io.Writer, im *hangar.Image) {
	row(w, "Name:", im.Name)
	row(w, "Owner:", im.Owner)
	row(w, "Type:", im.Type)
	row(w, "OS:", fmt.Sprintf("%s, %s", im.OSType, im.OSState))
	row(w, "Hyper-V generation:", im.HyperVGeneration)
	row(w, "Provisioning agent:", im.ProvisioningAgent)
	row(w, "Architecture:", im.Architecture)
	if im.Description != "" {
		row(w, "Description:", im.Description)
	}
	if im.EULA != "" {
		row(w, "EULA:", im.EULA)
	}
	printDefinition(w, im)
	if len(im.SharedWith) > 0 {
		row(w, "Shared with:", strings.Join(im.SharedWith, ", "))
	}
	if c := im.Community; c != nil {
		row(w, "Community:", "community/"+c.PublicName+"/"+im.Name)
		row(w, "Publisher URI:", c.PublisherURI)
		row(w, "Publisher e-mail:", c.PublisherEmail)
		row(w, "Community EULA:", c.EULA)
	}
	fmt.Fprintln(w)
	row(w, "VERSION", "EXCLUDED FROM LATEST", "END OF LIFE", "OS DISK", "DATA DISKS", "PROPERTIES")
	for _, v := range im.Versions {
		var data []string
		for _, d := range v.DataDisks {
			data = append(data, fmt.Sprintf("%d=%s", d.LUN, firstNonEmpty(d.Disk, hangar.FormatBytes(d.VirtualSize))))
		}
		row(w, v.Version, v.ExcludeFromLatest, orDash(v.EndOfLife), firstNonEmpty(v.OSDisk.Disk, hangar.FormatBytes(v.OSDisk.VirtualSize)), orDash(strings.Join(data, " ")), orDash(v.Properties.String()))
	}
}

func newImageDeleteCmd(g *globals) *cobra.Command {
	var ifMatch func() client.RequestOption
	var confirm func(string) error
	cmd := &cobra.Command{
		Use: "delete NAME", Short: "Delete one of your images with all its versions", Args: cobra.ExactArgs(1),
		Example: `  hangar image delete web
  hangar image delete web --yes --if-match "$ETAG"`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := confirm("delete image " + args[0] + " with all its versions"); err != nil {
				return err
			}
			if err := g.client().DeleteImage(cmd.Context(), args[0], ifMatch()); err != nil {
				return err
			}
			return g.done(cmd, "Deleted image "+args[0]+". Its disks remain; delete them with `hangar disk delete`.")
		},
	}
	ifMatch = ifMatchFlag(cmd, "image")
	confirm = yesFlag(cmd, g)
	return cmd
}

func newImageShareCmd(g *globals, share bool) *cobra.Command {
	var tenant string
	var ifMatch func() client.RequestOption
	use, short := "share NAME", "Let another tenant use one of your images"
	if !share {
		use, short = "unshare NAME", "Stop sharing an image with a tenant"
	}
	cmd := &cobra.Command{
		Use: use, Short: short, Args: cobra.ExactArgs(1),
		Example: "  hangar image " + strings.Fields(use)[0] + " web --tenant bob",
		RunE: func(cmd *cobra.Command, args []string) error {
			im, err := g.client().Share(cmd.Context(), args[0], tenant, share, ifMatch())
			if err != nil {
				return err
			}
			return g.print(cmd, im, func(w io.Writer) {
				if share {
					fmt.Fprintf(w, "Image %s is shared with %s, who can use it as shared/%s/%s.\n", im.Name, tenant, im.Owner, im.Name)
				} else {
					fmt.Fprintf(w, "Image %s is no longer shared with %s.\n", im.Name, tenant)
				}
			})
		},
	}
	cmd.Flags().StringVar(&tenant, "tenant", "", "tenant name")
	cmd.MarkFlagRequired("tenant")
	ifMatch = ifMatchFlag(cmd, "image")
	return cmd
}

func newImageUpdateVersionCmd(g *globals) *cobra.Command {
	var exclude, eol string
	var ifMatch func() client.RequestOption
	cmd := &cobra.Command{
		Use:   "update-version NAME VERSION",
		Short: "Change a version's exclude-from-latest flag or end-of-life date",
		Example: `  hangar image update-version web 2.0.0 --exclude-from-latest true
  hangar image update-version web 2.0.0 --end-of-life 2027-01-01 --if-match "$(hangar image show web -o json | jq -r .etag)"`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			var u hangar.ImageVersionUpdate
			if cmd.Flags().Changed("exclude-from-latest") {
				b, err := strconv.ParseBool(exclude)
				if err != nil {
					return usageErrorf("--exclude-from-latest %q: use true or false", exclude)
				}
				u.ExcludeFromLatest = &b
			}
			if cmd.Flags().Changed("end-of-life") {
				u.EndOfLife = &eol
			}
			im, err := g.client().UpdateVersion(cmd.Context(), args[0], args[1], u, ifMatch())
			if err != nil {
				return err
			}
			return g.print(cmd, im, func(w io.Writer) { printImage(w, &im) })
		},
	}
	cmd.Flags().StringVar(&exclude, "exclude-from-latest", "", "true or false")
	cmd.Flags().StringVar(&eol, "end-of-life", "", "YYYY-MM-DD, or empty to clear")
	ifMatch = ifMatchFlag(cmd, "image")
	return cmd
}

func newPublishCommunityCmd(g *globals) *cobra.Command {
	var c hangar.Community
	var ifMatch func() client.RequestOption
	cmd := &cobra.Command{
		Use:   "publish-community NAME",
		Short: "Publish an image to the community repository, for every tenant",
		Long: `Publish one of your images as community/PUBLICNAME/NAME. Every tenant can then see
and use all its versions; the publisher URI, contact e-mail and EULA are shown to all.
The public name becomes yours: no other tenant can publish under it. Run it again to
change the details; withdraw with unpublish-community.`,
		Example: `  hangar image publish-community web --public-name acme --publisher-uri https://acme.example \
      --publisher-email images@acme.example --eula https://acme.example/eula`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			im, err := g.client().PublishCommunity(cmd.Context(), args[0], c, ifMatch())
			if err != nil {
				return err
			}
			return g.print(cmd, im, func(w io.Writer) {
				fmt.Fprintf(w, "Published as community/%s/%s.\n", c.PublicName, im.Name)
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&c.PublicName, "public-name", "", "public prefix of your community images")
	f.StringVar(&c.PublisherURI, "publisher-uri", "", "publisher web site (https URL)")
	f.StringVar(&c.PublisherEmail, "publisher-email", "", "contact e-mail")
	f.StringVar(&c.EULA, "eula", "", "EULA (URL or text) shown to everyone")
	for _, n := range []string{"public-name", "publisher-uri", "publisher-email", "eula"} {
		cmd.MarkFlagRequired(n)
	}
	ifMatch = ifMatchFlag(cmd, "image")
	return cmd
}

func newUnpublishCommunityCmd(g *globals) *cobra.Command {
	var ifMatch func() client.RequestOption
	var confirm func(string) error
	cmd := &cobra.Command{
		Use: "unpublish-community NAME", Short: "Withdraw an image from the community repository", Args: cobra.ExactArgs(1),
		Example: "  hangar image unpublish-community web --yes",
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := confirm("withdraw image " + args[0] + " from the community repository (other tenants can no longer use it)"); err != nil {
				return err
			}
			if _, err := g.client().UnpublishCommunity(cmd.Context(), args[0], ifMatch()); err != nil {
				return err
			}
			return g.done(cmd, "Image "+args[0]+" is no longer in the community repository.")
		},
	}
	ifMatch = ifMatchFlag(cmd, "image")
	confirm = yesFlag(cmd, g)
	return cmd
}
